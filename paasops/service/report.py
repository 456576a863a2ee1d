"""The report of `paasops report`: capacity and use per host, replicas per app, hosts down, recent events."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..store.records import Event
from .reconcile import ReconcilePlan, diff

EVENTS_WINDOW = 24 * 3600.0
EVENTS_LIMIT = 50


def _share(part: float, whole: float) -> float:
    """Percent of `whole` that `part` is, 0 when there is no whole (more than 100 when overcommitted)."""
    return round(part / whole * 100, 1) if whole else 0.0


def host_row(h: dict[str, Any]) -> dict[str, Any]:
    """One host of `Cluster.info()`, with its reservations as a share of its capacity."""
    return {"id": h["id"], "address": h.get("address", ""), "status": h.get("status", "unknown"),
            "cpus": h.get("cpus", 0), "reserved_cpus": h.get("reserved_cpus", 0),
            "cpu_percent": _share(h.get("reserved_cpus", 0), h.get("cpus", 0)),
            "memory_mb": h.get("memory_mb", 0), "reserved_memory_mb": h.get("reserved_memory_mb", 0),
            "memory_percent": _share(h.get("reserved_memory_mb", 0), h.get("memory_mb", 0)),
            "containers": h.get("containers", 0), "running": h.get("running", 0), "error": h.get("error", "")}


def build_report(info: dict[str, Any], plan: ReconcilePlan, events: list[Event], *, now: float) -> dict[str, Any]:
    """The report as plain data: `info` from Cluster.info(), `plan` from reconcile.diff, events newest first.

    Utilisation is what placement counts: CPU and memory reserved by the replicas, against each
    host's declared capacity.
    """
    hosts = [host_row(h) for h in sorted(info.get("hosts") or [], key=lambda h: h["id"])]
    totals = {key: info.get(key, 0) for key in ("engines", "engines_up", "cpus", "memory_mb", "reserved_cpus",
                                                "reserved_memory_mb", "containers", "running")}
    totals["cpu_percent"] = _share(totals["reserved_cpus"], totals["cpus"])
    totals["memory_percent"] = _share(totals["reserved_memory_mb"], totals["memory_mb"])
    apps = [s.to_dict() for s in plan.apps]
    return {
        "generated_at": now,
        "totals": totals,
        "hosts": hosts,
        "hosts_down": [{"id": h["id"], "address": h["address"], "status": h["status"], "error": h["error"]}
                       for h in hosts if h["status"] != "up"],
        "apps": apps,
        "apps_out_of_sync": [a["name"] for a in apps if not a["in_sync"]],
        "reconcile": {"in_sync": plan.in_sync, "summary": plan.summary(), "pending": len(plan.actions)},
        "events": [asdict(e) for e in events if e.time >= now - EVENTS_WINDOW][:EVENTS_LIMIT],
    }


def service_report(service, now: float) -> dict[str, Any]:
    """The report of a running service, from its caches and store (no engine is asked anything)."""
    cluster = service.cluster
    plan = diff(cluster.store.list_apps(), cluster.containers(), cluster.snapshot(), now=now,
                weights=cluster.weights)
    events = cluster.store.list_events(since=now - EVENTS_WINDOW, limit=EVENTS_LIMIT)
    return build_report(cluster.info(), plan, events, now=now)
