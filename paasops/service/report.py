"""The report of `paasops report`: capacity and use per host, replicas per app, hosts down, recent events, routes."""

from __future__ import annotations

from dataclasses import asdict

from ..auth.ownership import Who, event_visible, is_admin, may_access
from ..placement import headroom
from ..results import (
    AppSync,
    ClusterInfo,
    EngineView,
    EventView,
    HostDown,
    HostRow,
    Report,
    ReportReconcile,
    ReportTotals,
    RouteView,
)
from ..store.records import Event
from ..vocabulary import UP
from .demands import demands
from .reconcile import ReconcilePlan, diff

EVENTS_WINDOW = 24 * 3600.0
EVENTS_LIMIT = 50
EVENTS_SCANNED = 5000  # of the day's newest events, those a non-admin's report picks its own from


def _share(part: float, whole: float) -> float:
    """Percent of `whole` that `part` is, 0 when there is no whole (more than 100 when overcommitted)."""
    return round(part / whole * 100, 1) if whole else 0.0


def host_row(h: EngineView) -> HostRow:
    """One host of `Cluster.info()`, with its reservations as a share of its capacity."""
    return HostRow(id=h.id, address=h.address, status=h.status, cpus=h.cpus, reserved_cpus=h.reserved_cpus,
                   cpu_percent=_share(h.reserved_cpus, h.cpus), memory_mb=h.memory_mb,
                   reserved_memory_mb=h.reserved_memory_mb, memory_percent=_share(h.reserved_memory_mb, h.memory_mb),
                   containers=h.containers, running=h.running, error=h.error)


def build_report(info: ClusterInfo, plan: ReconcilePlan, events: list[Event], *, now: float,
                 routes: list[RouteView] | None = None) -> Report:
    """The report: `info` from Cluster.info(), `plan` from reconcile.diff, events newest first.

    Utilisation is what placement counts: CPU and memory reserved by the replicas, against each
    host's declared capacity.
    """
    hosts = [host_row(h) for h in sorted(info.hosts, key=lambda h: h.id)]
    totals = ReportTotals(engines=info.engines, engines_up=info.engines_up, cpus=info.cpus, memory_mb=info.memory_mb,
                          reserved_cpus=info.reserved_cpus, reserved_memory_mb=info.reserved_memory_mb,
                          containers=info.containers, running=info.running,
                          cpu_percent=_share(info.reserved_cpus, info.cpus),
                          memory_percent=_share(info.reserved_memory_mb, info.memory_mb))
    apps = [AppSync(**s.to_dict()) for s in plan.apps]
    return Report(
        generated_at=now,
        totals=totals,
        hosts=hosts,
        hosts_down=[HostDown(id=h.id, address=h.address, status=h.status, error=h.error)
                    for h in hosts if h.status != UP],
        apps=apps,
        apps_out_of_sync=[a.name for a in apps if not a.in_sync],
        reconcile=ReportReconcile(in_sync=plan.in_sync, summary=plan.summary(), pending=len(plan.actions)),
        events=[EventView(**asdict(e)) for e in events if e.time >= now - EVENTS_WINDOW][:EVENTS_LIMIT],
        routes=routes or [],
    )


def service_report(service, now: float, who: Who | None = None) -> Report:
    """The report of a running service, from its caches and store (no engine is asked anything).

    For a caller other than an admin (`who`), only its apps and their events, and its own doings
    (auth.ownership); the hosts and totals are everyone's.
    """
    cluster = service.cluster
    apps = [a for a in cluster.store.list_apps() if may_access(who, a.owner, a.team)]
    names = {a.name for a in apps}
    containers = cluster.containers() if is_admin(who) else [c for c in cluster.containers() if c.app in names]
    plan = diff(apps, containers, cluster.snapshot(), now=now, weights=cluster.weights)
    events = cluster.store.list_events(since=now - EVENTS_WINDOW,
                                       limit=EVENTS_LIMIT if is_admin(who) else EVENTS_SCANNED)
    events = [e for e in events if event_visible(who, e.app, e.user, names)][:EVENTS_LIMIT]
    report = build_report(cluster.info(), plan, events, now=now, routes=service.route_views(who))
    room = headroom.headroom(cluster.snapshot(), demands(cluster.store.list_apps()), cluster.weights)
    report.headroom = headroom.as_result(room, visible=names.__contains__)
    return report
