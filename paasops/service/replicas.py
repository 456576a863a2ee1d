"""Replicas as data: their numbers, labels, placement request and which go on a scale-down (no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..placement import Request
from ..spec import AppSpec, container_labels
from ..vocabulary import LABEL_CPUS, LABEL_MEMORY, LABEL_PORTS, LABEL_REPLICA
from .containers import ContainerView


def replica_index(c: ContainerView) -> int:
    """The replica number a container carries in its label; 0 when it has none (or a bad one)."""
    try:
        return int(c.labels.get(LABEL_REPLICA, "0"))
    except ValueError:
        return 0


def free_indexes(taken: Iterable[int], count: int) -> list[int]:
    """The `count` smallest replica numbers from 1 up that no container holds yet."""
    used = set(taken)
    out: list[int] = []
    i = 1
    while len(out) < count:
        if i not in used:
            out.append(i)
        i += 1
    return out


def replica_labels(spec: AppSpec, deployment_id: str, index: int) -> dict[str, str]:
    """Every label a replica is started with: the app's, its number and what it reserves."""
    return {**container_labels(spec, deployment_id), LABEL_REPLICA: str(index),
            LABEL_CPUS: f"{spec.cpus:g}", LABEL_MEMORY: str(spec.memory_mb),
            LABEL_PORTS: ",".join(str(p.host) for p in spec.ports if p.host)}


def request_for(spec: AppSpec) -> Request:
    """What placement is asked for one replica of `spec`."""
    return Request(spec.name, cpus=spec.cpus, memory_mb=spec.memory_mb,
                   ports=tuple(p.host for p in spec.ports if p.host), constraints=tuple(spec.constraints))


def scale_down_victims(current: Iterable[ContainerView], order: Sequence[str]) -> list[ContainerView]:
    """The replicas to remove, one per host in `order` (placement's scale-down order): on a host,
    the highest-numbered replica goes first. A host named more often than it has replicas is a ValueError.
    """
    by_host: dict[str, list[ContainerView]] = {}
    for c in sorted(current, key=replica_index):
        by_host.setdefault(c.engine_id, []).append(c)
    victims = []
    for host in order:
        if not by_host.get(host):
            raise ValueError(f"no replica left on {host} to remove")
        victims.append(by_host[host].pop())
    return victims


@dataclass(frozen=True)
class Removal:
    """A copy reconcile removes to keep one replica per index, and why (said in its action)."""

    container: ContainerView
    why: str


def _ready(c: ContainerView) -> bool:
    return c.state == "running" and "unhealthy" not in c.status and "health: starting" not in c.status


def _returned(c: ContainerView, back_since: Mapping[str, float]) -> bool:
    """Whether `c` lived through its host's absence (it is older than the host's last return)."""
    return c.created < back_since.get(c.engine_id, 0.0)


def _keep_first(up: Collection[str] | None, back: Mapping[str, float]) -> Callable[[ContainerView], tuple]:
    """The order copies of one index are kept in: on an up host, ready, not back from a lost host, then the
    oldest (then by id)."""
    return lambda c: (up is not None and c.engine_id not in up, not _ready(c), _returned(c, back), c.created, c.id)


def one_per_index(copies: Iterable[ContainerView], count: int, up: Collection[str] | None = None, *,
                  back_since: Mapping[str, float] | None = None) -> list[Removal]:
    """Which copies go so an app keeps exactly one replica per index, at most `count` indexes.

    Of several copies of one index, the one on an up host (`up`; None: all are), then ready, then one
    that did not live through its host's absence (created after the host last came up, `back_since`:
    its replacement was made meanwhile), then the oldest is kept. Beyond `count` distinct indexes, the
    highest go (a copy without a number first). The indexes kept need not be 1..N: a new release's
    replicas take the numbers after the release they replace (its containers' names are still taken
    while both run). Surplus first, highest index first, then the duplicates by index. Missing replicas
    are the caller's to create.
    """
    by_index: dict[int, list[ContainerView]] = {}
    for c in copies:
        by_index.setdefault(replica_index(c), []).append(c)
    numbered = sorted(i for i in by_index if i >= 1)
    kept_indexes = set(numbered[:max(count, 0)])
    back = back_since or {}
    removals: list[Removal] = []
    for index in sorted((i for i in by_index if i not in kept_indexes), key=lambda i: (i >= 1, -i)):
        for c in sorted(by_index[index], key=lambda c: c.id):
            why = (f"index {index} is beyond the app's {count} replicas" if index >= 1
                   else "it has no replica index")
            removals.append(Removal(c, why))
    for index in sorted(kept_indexes):
        kept, *extra = sorted(by_index[index], key=_keep_first(up, back))
        for c in extra:
            removals.append(Removal(c, f"index {index} runs {len(extra) + 1} times: {kept.name} on "
                                       f"{kept.engine_id} is kept ({_why_kept(kept, c, up, back)})"))
    return removals


def _why_kept(kept: ContainerView, gone: ContainerView, up: Collection[str] | None,
              back: Mapping[str, float]) -> str:
    if up is not None and (kept.engine_id in up) != (gone.engine_id in up):
        return "its host is up"
    if _ready(kept) != _ready(gone):
        return "it is ready"
    if _returned(kept, back) != _returned(gone, back):
        return f"the other was on {gone.engine_id} while it was away"
    return "it is older" if kept.created < gone.created else "same age, first by id"
