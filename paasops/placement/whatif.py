"""What-if: where the replicas of lost or drained hosts (and an app's new ones) would go, placed as a drain does."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from paasops.errors import UserInputError
from paasops.placement.evacuate import with_plan
from paasops.placement.model import HostSnapshot, Request, Snapshot, WeightsLike
from paasops.placement.placer import place
from paasops.placement.plan import Plan
from paasops.spec import MEMORY_RE, MEMORY_UNITS_MB

if TYPE_CHECKING:
    from paasops.results import WhatIfPlan

LOST = "lost"  # the status a lost host shows in a what-if: the `healthy` filter names it
MAX_ADDED_CPUS = 4096.0
MAX_ADDED_MEMORY_MB = 1 << 30  # 1 PB


@dataclass(frozen=True, slots=True)
class Demand:
    """What one replica of an app asks placement for, and the strategy the app is placed by."""

    request: Request
    strategy: str = "thesis"


@dataclass(frozen=True, slots=True)
class Scenario:
    """Hosts lost (gone with their replicas) or drained (unschedulable, replicas moved), hosts added (empty),
    and optionally `count` new replicas of one app (as `deploy --dry-run` places them)."""

    lose: tuple[str, ...] = ()
    drain: tuple[str, ...] = ()
    add: tuple[HostSnapshot, ...] = ()
    app: Demand | None = None
    count: int = 0


@dataclass(frozen=True, slots=True)
class AppWhatIf:
    """One app's replicas to place: `origins[i]` is the host replica i leaves (None: a new replica of --app).
    `plan` is placement's answer; None when no spec of the app is known (nothing to place it by)."""

    app: str
    origins: tuple[str | None, ...]
    plan: Plan | None

    @property
    def count(self) -> int:
        return len(self.origins)

    @property
    def placed(self) -> int:
        return len(self.plan.assignments) if self.plan else 0

    @property
    def stranded(self) -> int:
        return self.count - self.placed

    @property
    def why(self) -> str | None:
        """Why some replicas would not fit, or None when all of them do."""
        if self.plan is None:
            return f"no spec of app {self.app!r} is known (not deployed): nothing places it again"
        return self.plan.failure_message()


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The scenario's cluster (`hosts`), each app's placement in order, and the cluster once all of it is done."""

    hosts: tuple[HostSnapshot, ...]
    apps: tuple[AppWhatIf, ...]
    after: tuple[HostSnapshot, ...]

    @property
    def complete(self) -> bool:
        return all(a.stranded == 0 for a in self.apps)

    @property
    def stranded(self) -> dict[str, int]:
        """App -> replicas that would not fit (apps with none left out)."""
        out: dict[str, int] = {}
        for a in self.apps:
            if a.stranded:
                out[a.app] = out.get(a.app, 0) + a.stranded
        return out


def added_host(text: str) -> HostSnapshot:
    """An empty host from `HOST=CPUS:MEM` (MEM in MB, or a size like 8g); a bad one is a UserInputError naming it."""
    name, sep, size = text.partition("=")
    cpus, sep2, mem = size.partition(":")
    where = f"--add {text}"
    if not (sep and sep2 and name.strip()):
        raise UserInputError(f"expected HOST=CPUS:MEM (e.g. lab9=4:8g), not {text!r}", where=where)
    try:
        total_cpu = float(cpus)
    except ValueError:
        raise UserInputError(f"CPUs must be a number, not {cpus!r}", where=where) from None
    m = MEMORY_RE.match(mem.strip())
    if not m:
        raise UserInputError(f"memory must be MB or a size like 8g, not {mem!r}", where=where)
    memory = float(m.group(1)) * MEMORY_UNITS_MB[m.group(2).lower()]
    return new_host(name.strip(), total_cpu, memory, where=where)


def new_host(name: str, cpus: float, memory_mb: float, *, where: str = "add") -> HostSnapshot:
    """An empty, healthy, schedulable host of that size (checked: both > 0 and finite)."""
    if not (math.isfinite(cpus) and 0 < cpus <= MAX_ADDED_CPUS):
        raise UserInputError(f"CPUs must be > 0 and <= {MAX_ADDED_CPUS:g}, not {cpus:g}", where=where)
    if not (math.isfinite(memory_mb) and 1 <= memory_mb <= MAX_ADDED_MEMORY_MB):
        raise UserInputError(f"memory must be >= 1 MB and <= {MAX_ADDED_MEMORY_MB} MB, not {memory_mb:g}",
                             where=where)
    return HostSnapshot(id=name, total_cpu=float(cpus), total_mem_mb=int(math.ceil(memory_mb)))


def scenario_hosts(snapshot: Snapshot, scenario: Scenario) -> list[HostSnapshot]:
    """The cluster as the scenario has it: lost hosts unhealthy and empty (their replicas gone with them),
    drained ones unschedulable (their replicas still run there until moved, start-first), added ones appended.

    A host named that the snapshot lacks, named twice, or added under a taken name is a UserInputError.
    """
    known = {h.id for h in snapshot}
    for flag, names in (("lose", scenario.lose), ("drain", scenario.drain)):
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UserInputError(f"no host {', '.join(map(repr, unknown))} (see `paasops hosts list`)",
                                 where=f"--{flag}")
    twice = sorted({n for n in scenario.lose + scenario.drain
                    if (scenario.lose + scenario.drain).count(n) > 1})
    if twice:
        raise UserInputError(f"host {', '.join(map(repr, twice))} named more than once", where="--lose/--drain")
    taken = set(known)
    for h in scenario.add:
        if h.id in taken:
            raise UserInputError(f"host {h.id!r} exists already: name the new one otherwise", where="--add")
        taken.add(h.id)
    if scenario.count < 0:
        raise UserInputError(f"replica count must be >= 0, not {scenario.count}", where="--count")
    lost, drained = set(scenario.lose), set(scenario.drain)
    out = []
    for h in snapshot:
        if h.id in lost:
            h = replace(h, healthy=False, status=LOST, reserved_cpu=0.0, reserved_mem_mb=0, used_ports=frozenset(),
                        replicas={})
        elif h.id in drained:
            h = replace(h, schedulable=False)
        out.append(h)
    return out + list(scenario.add)


def displaced(snapshot: Snapshot, scenario: Scenario) -> dict[str, list[str]]:
    """App -> the host each of its replicas leaves (lost hosts first, in the order named, then drained), by app name."""
    by_id = {h.id: h for h in snapshot}
    out: dict[str, list[str]] = {}
    for host in scenario.lose + scenario.drain:
        for app, n in sorted(by_id[host].replicas.items()):
            out.setdefault(app, []).extend([host] * n)
    return dict(sorted(out.items()))


def what_if(snapshot: Snapshot, demands: Mapping[str, Demand], scenario: Scenario,
            weights: WeightsLike = None) -> WhatIf:
    """Place the replicas the scenario displaces, app by app in name order (as a drain does), each app seeing
    those placed before it; then `scenario.count` replicas of `scenario.app` on what is left. An app that does
    not fit is placed as far as it goes and the next one is still tried: the answer names all that is stranded.

    `demands` holds what each deployed app's replica asks for; the replicas of an app not in it are reported,
    not placed. Pure: the snapshot is not changed.
    """
    hosts = scenario_hosts(snapshot, scenario)
    start = tuple(hosts)
    results: list[AppWhatIf] = []
    for app, origins in displaced(snapshot, scenario).items():
        demand = demands.get(app)
        if demand is None:
            results.append(AppWhatIf(app, tuple(origins), None))
            continue
        plan = place(hosts, demand.request, len(origins), demand.strategy, weights)
        hosts = with_plan(hosts, demand.request, plan)
        results.append(AppWhatIf(app, tuple(origins), plan))
    if scenario.app is not None:
        demand = scenario.app
        plan = place(hosts, demand.request, scenario.count, demand.strategy, weights)
        hosts = with_plan(hosts, demand.request, plan)
        results.append(AppWhatIf(demand.request.app, (None,) * scenario.count, plan))
    return WhatIf(start, tuple(results), tuple(hosts))


def lose_each(snapshot: Snapshot, demands: Mapping[str, Demand], weights: WeightsLike = None,
              hosts: Sequence[str] | None = None) -> dict[str, WhatIf]:
    """Host -> what losing that one host alone would do (every host holding replicas, unless `hosts` says)."""
    names = [h.id for h in snapshot if h.replicas and any(h.replicas.values())] if hosts is None else list(hosts)
    return {name: what_if(snapshot, demands, Scenario(lose=(name,)), weights) for name in names}


def explained(plan: Plan, scenario: Scenario, limit: int | None) -> list[dict]:
    """Placement's explanation rows worth showing: every host the plan places on or the scenario names, then the
    best others (rejected ones last) up to `limit` rows in all; None: every host."""
    rows = plan.explain_table()
    if limit is None or len(rows) <= limit:
        return rows
    named = set(scenario.lose) | set(scenario.drain) | {h.id for h in scenario.add}
    keep = {i for i, r in enumerate(rows) if r["placed"] or r["host"] in named}
    for i in range(len(rows)):
        if len(keep) >= limit:
            break
        keep.add(i)
    return [rows[i] for i in sorted(keep)]


def as_result(plan: WhatIf, scenario: Scenario, visible: Callable[[str], bool] = lambda app: True,
              explain: int | None = None) -> WhatIfPlan:
    """The typed answer (paasops/results.py), showing only the apps `visible` lets through; each app's hosts as
    `explained` picks them (`explain` rows; None: every host)."""
    from paasops.results import HostExplanation, WhatIfApp, WhatIfMove, WhatIfPlan

    apps = []
    for a in plan.apps:
        if not visible(a.app):
            continue
        moves = [WhatIfMove(replica=x.replica_index, from_host=a.origins[x.replica_index], host=x.host_id,
                            score=x.score, cpu=x.cpu_term, memory=x.mem_term)
                 for x in (a.plan.assignments if a.plan else ())]
        rows = explained(a.plan, scenario, explain) if a.plan else []
        apps.append(WhatIfApp(app=a.app, kind="new" if a.origins and a.origins[0] is None else "moved",
                              count=a.count, placed=a.placed, stranded=a.stranded, why=a.why,
                              strategy=a.plan.strategy if a.plan else None, moves=moves,
                              hosts=len(a.plan.explanation) if a.plan else 0,
                              explanation=[HostExplanation(**row) for row in rows]))
    stranded = sum(a.stranded for a in apps)
    moved = sum(a.placed for a in apps)
    if not apps:
        message = "nothing to place: no replica of yours is on those hosts"
    elif stranded:
        short = ", ".join(f"{a.app} ({a.stranded})" for a in apps if a.stranded)
        message = f"{stranded} replica(s) would not fit: {short}; {moved} would be placed"
    else:
        message = f"all {moved} replica(s) would be placed"
    return WhatIfPlan(lose=list(scenario.lose), drain=list(scenario.drain), add=[h.id for h in scenario.add],
                      apps=apps, complete=not stranded, stranded=stranded, message=message)
