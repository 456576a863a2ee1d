"""A rolling update as data: which old replicas each batch replaces, and the ready capacity it keeps (no I/O)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .update_policy import STOP_FIRST, UpdatePolicy


@dataclass(frozen=True)
class OldReplica:
    """A replica of the release being replaced: its container, number and whether it serves now."""

    id: str
    index: int
    ready: bool = True


@dataclass(frozen=True)
class Batch:
    """Batch `number` (from 1): start `start` new replicas and remove the old ones in `stop`."""

    number: int
    start: int
    stop: tuple[str, ...]


def replacement_order(old: Iterable[OldReplica]) -> list[OldReplica]:
    """The order old replicas are replaced in: those that serve nothing first (no capacity lost), then by
    number, lowest first (stop-first then gives each new replica the number of the one it replaced)."""
    return sorted(old, key=lambda r: (r.ready, r.index, r.id))


def plan_batches(old: Iterable[OldReplica], count: int, policy: UpdatePolicy) -> list[Batch]:
    """The batches that replace every `old` replica with `count` new ones, `parallelism` at a time.

    Each batch starts up to `parallelism` new replicas and removes up to `parallelism` old ones, so a
    count that changes with the release is spread over the batches too (more new: the last batches
    only start; fewer: they only remove).
    """
    ordered = replacement_order(old)
    step = policy.parallelism
    batches = []
    for k in range(math.ceil(max(count, len(ordered)) / step)):
        start = max(0, min(step, count - k * step))
        stop = tuple(r.id for r in ordered[k * step:(k + 1) * step])
        batches.append(Batch(k + 1, start, stop))
    return batches


def ready_floor(old: Iterable[OldReplica], count: int, policy: UpdatePolicy) -> int:
    """The fewest ready replicas the update may leave serving: `count - max_unavailable`, never more
    than the old release served to begin with (an update cannot be held to capacity it never had)."""
    serving = sum(r.ready for r in old)
    return max(0, min(count, serving) - policy.unavailable)


def capacity_steps(old: Sequence[OldReplica], batches: Sequence[Batch], policy: UpdatePolicy) -> list[int]:
    """The ready count after every step of the plan, every new replica assumed to become ready: what
    the update keeps serving (tests hold it to `ready_floor`)."""
    ready = {r.id: r.ready for r in old}
    serving = sum(ready.values())
    steps = [serving]
    for batch in batches:
        gone = sum(ready.get(i, False) for i in batch.stop)
        if policy.order == STOP_FIRST:
            steps += [serving - gone, serving - gone + batch.start]
        else:
            steps += [serving + batch.start, serving + batch.start - gone]
        serving += batch.start - gone
    return steps


def too_many_failures(failed: int, count: int, policy: UpdatePolicy) -> bool:
    """Whether `failed` new replicas of `count` are more than `max_failure_ratio` tolerates (0: any one)."""
    return failed > 0 and failed > policy.max_failure_ratio * count
