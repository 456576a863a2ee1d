"""Evacuation: place every replica a host must give up on the other hosts, app after app, before any moves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from paasops.placement.model import HostSnapshot, Request, Snapshot, WeightsLike
from paasops.placement.placer import place
from paasops.placement.plan import Plan


@dataclass(frozen=True, slots=True)
class Move:
    """`count` replicas of one app that leave the host, each asking for `request`, placed by `strategy`."""

    request: Request
    count: int
    strategy: str = "thesis"


@dataclass(frozen=True, slots=True)
class Evacuation:
    """The plan of each move, in order; `failed` names the first move that does not fit (its plan says why)."""

    plans: tuple[Plan, ...]
    failed: Plan | None = None

    @property
    def complete(self) -> bool:
        return self.failed is None

    def failure_message(self) -> str | None:
        """Which app does not fit and why (placement's own message), or None."""
        if self.failed is None:
            return None
        return f"{self.failed.app} does not fit on the other hosts: {self.failed.failure_message()}"


def with_plan(hosts: Snapshot, request: Request, plan: Plan) -> list[HostSnapshot]:
    """The hosts as they would be once `plan`'s replicas run on them (reservations, ports, replica counts)."""
    placed = plan.placements_by_host()
    out = []
    for h in hosts:
        n = placed.get(h.id, 0)
        if n == 0:
            out.append(h)
            continue
        out.append(replace(h, reserved_cpu=h.reserved_cpu + n * request.cpus,
                           reserved_mem_mb=h.reserved_mem_mb + n * request.memory_mb,
                           used_ports=h.used_ports.union(request.ports),
                           replicas={**h.replicas, request.app: h.replicas.get(request.app, 0) + n}))
    return out


def evacuate(hosts: Snapshot, leaving: str, moves: Sequence[Move], weights: WeightsLike = None) -> Evacuation:
    """Place every move on the hosts but `leaving`, each app seeing the replicas placed before it.

    The replicas leaving still hold `leaving` (start-first: they run until their replacement is ready),
    so that host is simply left out. Stops at the first app that does not fit.
    """
    others = [h for h in hosts if h.id != leaving]
    plans: list[Plan] = []
    for move in moves:
        plan = place(others, move.request, move.count, strategy=move.strategy, weights=weights)
        if not plan.complete:
            return Evacuation(tuple(plans), plan)
        plans.append(plan)
        others = with_plan(others, move.request, plan)
    return Evacuation(tuple(plans))
