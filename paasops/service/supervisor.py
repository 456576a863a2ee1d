"""The self-healing supervisor: converges every app on its desired state with reconcile's diff, on events."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..results import ActionOutcome
from ..spec import reschedule_seconds
from ..vocabulary import DEPLOY_PENDING, HEAL_DEFERRED_EVENT, HEAL_EVENT, LABEL_APP, SUPERVISOR_USER
from .container_events import event_action
from .heal_plan import DisruptionBudget, deferral_key, gate, owns, unhealthy_clock
from .reconcile_apply import Reconciler, describe

log = logging.getLogger(__name__)
STARTUP_WAIT = reschedule_seconds({})  # the default reschedule_after
# Docker events after which a managed app is looked at at once (not at the next sweep)
TRIGGERS = frozenset({"die", "oom", "destroy", "health_status: unhealthy", "stop", "kill"})


class Supervisor:
    """One thread: wakes on a replica's `die`/`unhealthy`, on host transitions, when a held replica falls
    due, and every `interval` seconds; for each app whose lock is free and whose deployment is not pending,
    applies what reconcile's diff says, within the disruption budget. Every action and every deferral is
    an event."""

    def __init__(self, reconciler: Reconciler, *, interval: float = 5.0, unhealthy_grace: float = 10.0,
                 budget: int = 0, window: float = 60.0, clock: Callable[[], float] = time.time):
        self.reconciler = reconciler
        self.cluster, self.apps = reconciler.cluster, reconciler.apps
        self.interval, self.unhealthy_grace, self.clock = interval, unhealthy_grace, clock
        self.budget = DisruptionBudget(lambda name: budget or self._count(name), window)
        self._unhealthy: dict[str, float] = {}
        self._deferred: dict[str, tuple] = {}  # app -> the deferral last recorded (one event per new one)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0

    def _count(self, name: str) -> int:
        app = self.cluster.store.get_app(name)
        return max(app.count if app else 1, 1)

    # -- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the pass under way (its starts are bounded by the engine timeout)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def schedule(self) -> None:
        """Look at the apps now (an event said something changed)."""
        self._wake.set()

    def on_docker_event(self, engine_id: str, raw: dict[str, Any]) -> None:
        """A container event of an engine: a managed replica that died or turned unhealthy wakes it."""
        attrs = (raw.get("Actor") or {}).get("Attributes") or {}
        action = raw.get("Action") or raw.get("status") or ""
        if attrs.get(LABEL_APP) and (action in TRIGGERS or event_action(raw) in TRIGGERS):
            self._wake.set()

    def _run(self) -> None:
        wake_at: float | None = None
        while not self._stop.is_set():
            wait = self.interval if wake_at is None else min(self.interval, max(wake_at - self.clock(), 0.0))
            self._wake.wait(wait)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                wake_at = self.converge()
            except Exception as exc:  # a store or engine hiccup: the next pass tries again
                log.warning("supervisor: %s", exc)
                wake_at = None

    # -- one pass ------------------------------------------------------------------------
    def converge(self) -> float | None:
        """One pass over every app; when the next one is due (a held replica or a deferral falls due)."""
        self.passes += 1
        held: dict[str, threading.Lock] = {}
        records = {app.name: app for app in self.cluster.store.list_apps()}
        try:
            for app in records.values():
                if app.state == DEPLOY_PENDING:
                    continue  # a deploy is under way or was cut: never fight it (reconcile finishes it)
                lock = self.apps.app_lock(app.name)
                if lock.acquire(blocking=False):  # held: a deploy, scale or reconcile acts on it now
                    held[app.name] = lock
            now = self.clock()
            observed = [c for c in self.cluster.containers() if c.app]
            self._unhealthy = unhealthy_clock(self._unhealthy, observed, now)
            timeline = self.reconciler.timeline(self._unhealthy, self.unhealthy_grace)
            plan = self.reconciler.plan(lambda name: name in held, set(), set(), timeline)
            views = {c.id: c for c in observed}
            unseen = self._unseen(now)
            gated = gate([a for a in plan.actions if owns(a, views, records) and not (unseen and a.kind == "create")],
                         self.budget, now)
            self._record_deferred(gated.deferred, now)
            if gated.allowed:
                self._record(self.reconciler.apply(gated.allowed, SUPERVISOR_USER))
        finally:
            for lock in held.values():
                lock.release()
        due = [t for t in [plan.wake_at, *(self.budget.free_at(a.app, now) for a in gated.deferred)] if t]
        return min(due, default=None)

    def _unseen(self, now: float) -> list[str]:
        """Engines never listed since the service started, for less than the default reschedule_after: their
        replicas are unknown, not missing, so nothing is started meanwhile (a restart with a host away)."""
        return [h.id for h in list(self.cluster.engines.values())
                if not h.synced_at and h.lost_since is not None and now - h.lost_since < STARTUP_WAIT]

    def _record(self, outcomes: list[ActionOutcome]) -> None:
        by_app: dict[str, list[ActionOutcome]] = {}
        for o in outcomes:
            by_app.setdefault(o.app, []).append(o)
        for app, done in sorted(by_app.items()):
            summary = {r: 0 for r in ("dead", "missing", "unhealthy", "duplicate", "orphan")}
            for o in done:
                summary[o.reason] = summary.get(o.reason, 0) + (o.count if o.kind == "create" else 1)
            failed = [o for o in done if o.outcome != "ok"]
            why = "; ".join(o.detail for o in done if o.detail)
            message = f"healed {app}: {describe(summary, done=True)}" + (f"; {len(failed)} failed" if failed else "")
            log.info("%s (%s)", message, why)
            self.cluster.record(HEAL_EVENT, tag="supervisor", user=SUPERVISOR_USER, app=app,
                                message=message, data={"actions": [o.model_dump(exclude_none=True) for o in done]})

    def _record_deferred(self, deferred: list, now: float) -> None:
        keys = deferral_key(deferred)
        for app, key in sorted(keys.items()):
            if self._deferred.get(app) == key:
                continue  # said already; said again only when what waits changes
            free = self.budget.free_at(app, now)
            waits = [a for a in deferred if a.app == app]
            message = (f"deferred for {app}: " + ", ".join(f"{a.kind} {a.count or a.name} ({a.reason})" for a in waits)
                       + f": disruption budget of {self.budget.limit(app)} replacements per "
                         f"{self.budget.window:g}s spent" + (f", free again in {free - now:.0f}s" if free else ""))
            log.info("%s", message)
            self.cluster.record(HEAL_DEFERRED_EVENT, tag="supervisor", user=SUPERVISOR_USER, app=app,
                                message=message, data={"actions": [a.to_dict() for a in waits]})
        self._deferred = keys


def start_supervisor(service) -> Supervisor | None:
    """The service's supervisor, started, unless its `supervise` setting is off."""
    settings = service.settings
    if not settings.supervise:
        return None
    supervisor = Supervisor(Reconciler.for_service(service), interval=settings.supervise_interval,
                            unhealthy_grace=settings.unhealthy_grace, budget=settings.disruption_budget)
    service.container_events.on_event = supervisor.on_docker_event
    supervisor.start()
    return supervisor

