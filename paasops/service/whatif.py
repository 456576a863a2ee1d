"""What-if of the running service: its live snapshot and the deployed apps' requests; nothing is changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..auth.ownership import Who, may_access, taken
from ..placement.whatif import Scenario, as_result, new_host, what_if
from ..results import WhatIfPlan
from ..spec import AppSpec
from .apps import AppManager
from .demands import demand_of, demands


@dataclass(frozen=True)
class NewHost:
    """A host the what-if adds: empty, healthy, schedulable, no labels."""

    id: str
    cpus: float
    memory_mb: float


def plan(apps: AppManager, *, lose: Sequence[str] = (), drain: Sequence[str] = (), add: Sequence[NewHost] = (),
         spec: AppSpec | None = None, count: int | None = None, explain: int | None = None,
         who: Who | None = None) -> WhatIfPlan:
    """Where the replicas of the hosts lost or drained would go (and `count` new ones of `spec`), on the live
    snapshot; the caller sees the apps it may see (the placement counts everyone's: they compete for room)."""
    records = apps.cluster.store.list_apps()
    scenario_app, n = None, 0
    if spec is not None:
        n = spec.count if count is None else count
        apps.check_count(n)
        current = next((a for a in records if a.name == spec.name), None)
        if current and not may_access(who, current.owner, current.team):
            raise taken(spec.name)  # as its dry run: another account's app is not planned on
        scenario_app = demand_of(spec)
    added = tuple(new_host(h.id, h.cpus, h.memory_mb, where=f"add {h.id}") for h in add)
    scenario = Scenario(lose=tuple(lose), drain=tuple(drain), add=added, app=scenario_app, count=n)
    result = what_if(apps.cluster.snapshot(), demands(records), scenario, apps.cluster.weights)
    mine = {a.name for a in records if may_access(who, a.owner, a.team)} | ({spec.name} if spec else set())
    return as_result(result, scenario, visible=mine.__contains__, explain=explain)

