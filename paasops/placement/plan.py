"""The result of placement: assignments, unplaced replicas and why each host won or was rejected."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from paasops.placement.model import Weights
from paasops.placement.scorers import get_strategy

# How much of a long rejection list the error message shows.
_HOSTS_PER_REASON = 5
_REASONS_SHOWN = 10


class Assignment(NamedTuple):
    """Replica `replica_index` (0-based within the batch) goes to `host_id` with this score."""

    replica_index: int
    host_id: str
    score: float
    cpu_term: float
    mem_term: float


class Unplaced(NamedTuple):
    """A replica no host could take, with each host's reason at that point of the batch."""

    replica_index: int
    reasons: Mapping[str, str]


class HostExplanation(NamedTuple):
    """One host's initial score split into its CPU and memory terms, or the filter that rejected it."""

    host_id: str
    fits: bool
    score: float | None
    cpu_term: float | None
    mem_term: float | None
    replicas: int  # replicas of the app already on the host before the plan
    placed: int  # replicas this plan puts on the host
    rejected_by: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class Plan:
    app: str
    strategy: str
    weights: Weights
    count: int
    assignments: tuple[Assignment, ...]
    unplaced: tuple[Unplaced, ...]
    explanation: tuple[HostExplanation, ...]

    @property
    def complete(self) -> bool:
        return not self.unplaced

    def placements_by_host(self) -> dict[str, int]:
        """Replicas per host, in the order hosts first appear in the plan."""
        counts: dict[str, int] = {}
        for a in self.assignments:
            counts[a.host_id] = counts.get(a.host_id, 0) + 1
        return counts

    def explain_table(self) -> list[dict]:
        """Rows for the CLI: fitting hosts best first, then rejected hosts by id. Numbers are not rounded."""
        rank_key = get_strategy(self.strategy).rank_key
        fitting = [e for e in self.explanation if e.fits]
        fitting.sort(key=lambda e: rank_key(e.score, e.replicas, e.host_id, 0))
        rejected = sorted((e for e in self.explanation if not e.fits), key=lambda e: e.host_id)
        return [
            {
                "host": e.host_id,
                "status": "fits" if e.fits else "rejected",
                "score": e.score,
                "cpu": e.cpu_term,
                "memory": e.mem_term,
                "replicas": e.replicas,
                "placed": e.placed,
                "filter": e.rejected_by,
                "reason": e.reason,
            }
            for e in fitting + rejected
        ]

    def failure_message(self) -> str | None:
        """Why the first unplaced replica found no host, hosts grouped by reason; None if complete."""
        if not self.unplaced:
            return None
        first = self.unplaced[0]
        head = f"no host can take replica {first.replica_index + 1} of {self.app}"
        if self.assignments:
            head += f" ({len(self.assignments)} of {self.count} placed)"
        if not first.reasons:
            return f"{head}: there are no hosts"
        groups: dict[str, list[str]] = {}
        for host_id, reason in first.reasons.items():
            groups.setdefault(reason, []).append(host_id)
        ordered = sorted(groups.items(), key=lambda item: -len(item[1]))  # stable: ties keep host order
        parts = []
        for reason, hosts in ordered[:_REASONS_SHOWN]:
            names = ", ".join(hosts[:_HOSTS_PER_REASON])
            if len(hosts) > _HOSTS_PER_REASON:
                names += f" and {len(hosts) - _HOSTS_PER_REASON} more"
            parts.append(f"{names}: {reason}")
        rest = sum(len(hosts) for _, hosts in ordered[_REASONS_SHOWN:])
        if rest:
            parts.append(f"{rest} more hosts for other reasons")
        return f"{head}: " + "; ".join(parts)
