"""Host drain: an engine made unschedulable, its replicas moved elsewhere start-first, app by app under its lock."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..errors import PaasopsError, PlacementError
from ..results import CordonResult, DrainResult, MovedReplica, RemovedReplica, UndrainResult
from ..spec import AppSpec
from ..store.records import App
from ..vocabulary import CORDON_EVENT, DRAIN_EVENT, UNDRAIN_EVENT, UP
from .apps import AppManager
from .containers import ContainerView
from .deploy import Replica, pause_for_test
from .drain_plan import DrainWork, refusal, replacement_indexes, sort_out
from .replicas import replica_index

log = logging.getLogger(__name__)
Say = Callable[[str], None]
READY_POLL = 0.25  # seconds between looks at a replacement that is not ready yet
READY_GRACE = 30.0  # seconds a replacement may take to be ready beyond its health check's own budget
PASSES = 3  # a deploy that placed on the host just before it was drained is caught by the next pass
RESUME_WAIT = 60.0  # seconds a drain cut by a crash waits, at start, for its engine to answer
RESUMED_BY = "paasops (resumed drain)"  # the `user` of a resumed drain's actions


def ready_budget(spec: AppSpec) -> float:
    """Seconds a new replica of `spec` may take to become ready: its first passing probe, with every retry."""
    check = spec.health
    if check is None:
        return READY_GRACE
    probe = (check.ms("interval") + check.ms("timeout")) / 1000
    return check.ms("start_period") / 1000 + (check.retries + 1) * probe + READY_GRACE


class HostDrain:
    """`drain`: refuse up front if the others cannot hold the host's replicas, else mark it unschedulable (in the
    store) and move each replica start-first, keeping its index; `undrain` lets it take placements again."""

    def __init__(self, apps: AppManager):
        self.apps = apps
        self.cluster = apps.cluster

    def _work(self, host: str, only: str | None = None) -> DrainWork:
        records = {a.name: a for a in self.cluster.store.list_apps() if only is None or a.name == only}
        containers = self.cluster.containers(app=only)
        work = sort_out(host, containers, records)
        if only is not None:  # the other apps' containers are another pass's business
            work.left = [x for x in work.left if x.app == only]
        return work

    def _specs(self, work: DrainWork) -> dict[str, AppSpec]:
        return {name: self.apps.spec_of(name) for name in work.moves}

    def drain(self, host: str, *, user: str | None = None, progress: Say = lambda line: None) -> DrainResult:
        """Drain engine `host` (NotFoundError if unknown; PlacementError, nothing changed, if it cannot be)."""
        self.cluster.engine(host)  # an unknown host: NotFoundError, before anything
        result = DrainResult(host=host)

        def say(line: str) -> None:
            result.steps.append(line)
            progress(line)

        work = self._work(host)
        why = refusal(host, self.cluster.snapshot(), work, self._specs(work), self.cluster.weights)
        if why:
            raise PlacementError(why, where=f"engine {host}")
        result.already = not self.cluster.pool.set_unschedulable(host, True)
        self.cluster.pool.set_draining(host, True)  # until the moves end: a crash meanwhile, resumed at start
        self.cluster.record(DRAIN_EVENT, user=user, host=host,
                            message=f"{host} drained by {user or 'an admin'}: no new placements; "
                                    f"{sum(len(v) for v in work.moves.values())} replicas to move")
        say(f"{host} is unschedulable{' (already)' if result.already else ''}: nothing new is placed there")
        pause_for_test("drain-moving")  # crash tests cut `serve` here: the host marked, nothing moved yet
        for _ in range(PASSES):
            if work.done or not result.ok:
                break
            for name in work.apps:
                with self.apps.locked(name):  # no deploy, scale, reconcile or supervisor acts on it meanwhile
                    self._drain_app(host, name, result, say, user)
                if not result.ok:
                    break
            work = self._work(host)
        self.cluster.pool.set_draining(host, False)
        result.left = work.left
        result.empty = work.done
        moved = len(result.moved)
        if result.ok and result.empty:
            result.message = f"{host} is empty ({moved} replica{'s' * (moved != 1)} moved)"
        elif result.ok:
            result.ok = False
            result.message = f"{host} is not empty: " + ("; ".join(work.blocked.values()) or
                                                         "replicas were placed there while it was drained")
        left = f"; {len(result.left)} container(s) left alone" if result.left else ""
        say(result.message + left)
        self.cluster.record(DRAIN_EVENT, user=user, host=host, message=result.message + left,
                            data={"moved": moved, "removed": len(result.removed), "ok": result.ok})
        return result

    def _drain_app(self, host: str, name: str, result: DrainResult, say: Say, user: str | None) -> None:
        """One app, its lock held: sorted out again (a deploy may have acted meanwhile), then moved."""
        work = self._work(host, only=name)
        if work.blocked:
            result.ok, result.message = False, work.blocked[name]
            return
        for c, why in work.removals:
            self.cluster.operate("destroy", c.id, user=user)
            result.removed.append(RemovedReplica(id=c.id, name=c.name, host=host))
            say(f"{name}: removed {c.name} ({why})")
        moving = work.moves.get(name, [])
        if moving:
            app = self.cluster.store.get_app(name)
            if app is not None:
                self._move(host, app, moving, result, say, user)

    def _move(self, host: str, app: App, moving: list[ContainerView], result: DrainResult, say: Say,
              user: str | None) -> None:
        """Start-first: the replacements start elsewhere under the same indexes; each old copy goes once its
        replacement is ready. One that fails or is not ready in time is removed and its old copy kept."""
        spec = self.apps.spec_for(app)
        indexes = replacement_indexes(moving, (replica_index(c) for c in self.apps.replicas(app.name)))
        say(f"{app.name}: starting {len(moving)} replacement(s) elsewhere for "
            f"{', '.join(c.name for c in moving)}")
        try:
            started = self.apps.start_replicas(spec, app.deployment_id, len(indexes), user=user, indexes=indexes)
        except PaasopsError as exc:  # refused before any started (placement, the image)
            result.ok, result.message = False, f"{app.name}: no replacement started: {exc}"
            return
        ready = self._wait_ready([r for r in started if r.status == "running"], ready_budget(spec))
        for old, new in zip(moving, started, strict=True):
            if new.container_id in ready:
                self._remove_old(old, user, say)
                result.moved.append(MovedReplica(app=app.name, index=new.index, name=old.name, from_host=host,
                                                 to_host=new.host or "", old_id=old.id, new_id=new.container_id))
                say(f"{app.name}: {old.name} moved {host} -> {new.host} (ready)")
                continue
            why = new.error or "not ready in time"
            if new.container_id:
                self.cluster.operate("destroy", new.container_id, user=user)
            result.ok = False
            result.message = f"{app.name}: {old.name} not moved ({why}); it still runs on {host}"
            say(result.message)

    def _remove_old(self, old: ContainerView, user: str | None, say: Say) -> None:
        try:
            self.cluster.operate("destroy", old.id, user=user)
        except PaasopsError as exc:  # its host does not answer: its replacement runs, reconcile removes the copy
            say(f"{old.app}: {old.name} could not be removed from {old.engine_id} now ({exc}); reconcile "
                "removes it when the host answers (its index runs elsewhere)")

    def _wait_ready(self, replicas: list[Replica], budget: float) -> set[str]:
        """The ids of `replicas` that are ready (read from their engines) within `budget` seconds."""
        deadline = time.monotonic() + budget
        ready: set[str] = set()
        waiting = {r.container_id: r.host for r in replicas if r.container_id and r.host}
        while waiting:
            for cid, host in list(waiting.items()):
                try:
                    view = self.cluster.engine(host).refresh_container(cid)
                except PaasopsError as exc:  # its engine is away for now: looked at again
                    log.info("drain: %s", exc)
                    continue
                if view is not None and view.ready:
                    ready.add(cid)
                    del waiting[cid]
                elif view is None:
                    del waiting[cid]  # it is gone
            if waiting and time.monotonic() >= deadline:
                break
            if waiting:
                time.sleep(READY_POLL)
        return ready

    def cordon(self, host: str, *, user: str | None = None) -> CordonResult:
        """Mark engine `host` unschedulable and move nothing (NotFoundError if unknown): before draining several
        hosts, so that one's replicas are not moved onto the next; `undrain` lifts it."""
        self.cluster.engine(host)
        if not self.cluster.pool.set_unschedulable(host, True):
            return CordonResult(host=host, changed=False, message=f"{host} was already unschedulable: nothing to do")
        self.cluster.record(CORDON_EVENT, user=user, host=host,
                            message=f"{host} cordoned by {user or 'an admin'}: no new placements, its replicas stay")
        return CordonResult(host=host, changed=True,
                            message=f"{host} takes no new placements; its replicas stay (undrain lifts it)")

    def undrain(self, host: str, *, user: str | None = None) -> UndrainResult:
        """Let engine `host` take placements again; a host that was not drained is left as it is."""
        changed = self.cluster.pool.set_unschedulable(host, False)
        self.cluster.pool.set_draining(host, False)  # a drain cut by a crash is not resumed once undrained
        if not changed:
            return UndrainResult(host=host, changed=False, message=f"{host} was not drained: nothing to do")
        self.cluster.record(UNDRAIN_EVENT, user=user, host=host,
                            message=f"{host} undrained by {user or 'an admin'}: it takes placements again")
        return UndrainResult(host=host, changed=True, message=f"{host} takes placements again")


def resume_drains(apps: AppManager, *, wait: float = RESUME_WAIT, poll: float = 0.5) -> list[DrainResult]:
    """At start-up: finish each drain a crash cut (its engine still marked draining), once that engine answers
    (or `wait` passed: it stays marked, for the next start). One that cannot be done now stays marked too."""
    cluster = apps.cluster
    pending = [h for h, handle in list(cluster.engines.items()) if handle.record.draining]
    deadline = time.monotonic() + wait
    results = []
    while pending:
        for host in [h for h in pending if (handle := cluster.engines.get(h)) is None or handle.status == UP]:
            pending.remove(host)
            handle = cluster.engines.get(host)
            if handle is None or not handle.record.unschedulable:  # removed, or undrained meanwhile
                if handle is not None:
                    cluster.pool.set_draining(host, False)
                continue
            cluster.record(DRAIN_EVENT, user=RESUMED_BY, host=host,
                           message=f"{host}: its drain was cut before it ended (the service stopped); resuming it")
            try:
                handle.sync()  # what runs there now, not what the event stream has caught up with
                results.append(HostDrain(apps).drain(host, user=RESUMED_BY,
                                                     progress=lambda line: log.info("resumed drain: %s", line)))
            except Exception as exc:  # refused, or an engine error mid-way: it stays marked
                log.warning("resuming the drain of %s: %s (tried again at the next start)", host, exc)
        if pending and time.monotonic() >= deadline:
            log.warning("drains not resumed, their engines do not answer: %s", ", ".join(pending))
            break
        if pending:
            time.sleep(poll)
    return results
