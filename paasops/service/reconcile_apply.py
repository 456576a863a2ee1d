"""Apply a reconcile plan: under a lock, observe the engines, diff, create and destroy, record what happened."""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, PaasopsError
from ..results import ActionOutcome, AppSync, ReconcileAction, ReconcileResult
from ..vocabulary import DEPLOY_PENDING, UP, data_dir
from .apps import AppManager
from .cluster import Cluster
from .reconcile import CREATED_GRACE, Change, ReconcilePlan, Timeline, diff
from .reconcile_lock import EtcdLock, FileLock
from .registration import parse_etcd_endpoint

log = logging.getLogger(__name__)
LOCK_FILE = "reconcile.lock"
OBSERVE_ROUNDS = 3


def lock_for(service) -> AbstractContextManager:
    """The etcd lock when the service has etcd, else a file lock next to the state (embedded mode)."""
    if service.settings.etcd:
        ca, cert, key = service.settings.etcd_tls()
        return EtcdLock([parse_etcd_endpoint(e)[:2] for e in service.settings.etcd],
                        tls={"ca_cert": ca, "cert_cert": cert, "cert_key": key} if ca else None)
    path = getattr(service.store, "path", None)
    state_dir = Path(path).parent if path and path != ":memory:" else data_dir()
    return FileLock(state_dir / LOCK_FILE)


def matcher(patterns: list[str] | None) -> Callable[[str], bool]:
    """Which apps a run covers: all, or those matching one of the shell-style patterns."""
    if not patterns:
        return lambda name: True
    return lambda name: any(fnmatch.fnmatchcase(name, p) for p in patterns)


def describe(summary: dict[str, int], *, done: bool) -> str:
    """'create 1 replica (missing), destroy 3 (1 duplicate, 1 orphan, 1 dead)', or in the past tense."""
    parts = []
    if summary.get("missing"):
        n = summary["missing"]
        parts.append(f"{'created' if done else 'create'} {n} replica{'s' if n != 1 else ''} (missing)")
    gone = {r: n for r, n in summary.items() if r in ("dead", "unhealthy", "duplicate", "orphan") and n}
    if gone:
        why = ", ".join(f"{n} {r}" for r, n in gone.items())
        parts.append(f"{'destroyed' if done else 'destroy'} {sum(gone.values())} ({why})")
    return ", ".join(parts) or "nothing"


class Reconciler:
    """Converges the engines on the apps' desired state; one run at a time, cluster-wide."""

    def __init__(self, cluster: Cluster, apps: AppManager, lock: Callable[[], AbstractContextManager], *,
                 grace: float = CREATED_GRACE, clock: Callable[[], float] = time.time):
        self.cluster = cluster
        self.apps = apps
        self.lock = lock
        self.grace = grace
        self.clock = clock

    @classmethod
    def for_service(cls, service) -> Reconciler:
        return cls(service.cluster, service.apps, lambda: lock_for(service))

    def run(self, *, dry_run: bool = False, user: str | None = None, apps: list[str] | None = None) -> ReconcileResult:
        """The plan (dry run), or the plan applied: every action with its outcome, and whether all is in sync.

        A second run while one is going raises ConflictError. Apps being deployed or scaled right
        now are left alone (listed as `busy`) until the next run.
        """
        match = matcher(apps)
        if dry_run:
            down = self._sync()
            plan = self._plan(match, set(), down)
            return self._result(plan, [], plan, dry_run=True, busy=[], down=down)
        with self.lock():
            held: dict[str, threading.Lock] = {}
            busy: set[str] = set()
            try:
                down = self._sync()
                self._hold(match, held, busy)
                self._finish_pending(held, user)
                plan = self._plan(lambda name: name in held, busy, down)
                outcomes = self._apply(plan, user)
                after = self._plan(lambda name: name in held, busy, down) if plan.actions else plan
            finally:
                for app_lock in held.values():
                    app_lock.release()
        result = self._result(plan, outcomes, after, dry_run=False, busy=sorted(busy), down=down)
        if plan.actions:
            self.cluster.record("reconcile", user=user, message=result.message,
                                data={"summary": result.summary, "in_sync": result.in_sync,
                                      "actions": [a.model_dump() for a in result.actions]})
        return result

    # -- observe ----------------------------------------------------------------------------
    def _sync(self) -> set[str]:
        """Re-read every up engine (events may lag); the ids of those that did not answer."""
        down = set()
        for handle in list(self.cluster.engines.values()):
            if handle.status != UP:
                continue
            try:
                handle.sync()
            except PaasopsError as exc:
                log.warning("reconcile: %s", exc)
                down.add(handle.id)
        return down

    def _hold(self, match: Callable[[str], bool], held: dict[str, threading.Lock], busy: set[str]) -> None:
        """Take the lock of every app in scope, desired or seen on an engine; a locked one is busy."""
        names = {a.name for a in self.cluster.store.list_apps() if match(a.name)}
        for _ in range(OBSERVE_ROUNDS):  # a first deploy may start while we look: look again
            for name in sorted(names - held.keys() - busy):
                app_lock = self.apps.app_lock(name)  # the AppManager's own per-app lock: deploys wait
                if app_lock.acquire(blocking=False):
                    held[name] = app_lock
                else:
                    busy.add(name)
            names = {c.app for c in self.cluster.containers() if c.app and match(c.app)} - held.keys() - busy
            if not names:
                return
        busy.update(names)

    def _finish_pending(self, held: dict[str, threading.Lock], user: str | None) -> None:
        """Finish the deployments a crash left pending (their apps' locks are held) before planning."""
        for app in self.cluster.store.list_apps():
            if app.name in held and app.state == DEPLOY_PENDING:
                try:
                    self.apps.finish(app, user=user)
                except PaasopsError as exc:  # left pending: the diff keeps both releases, the next run retries
                    log.warning("reconcile: finishing %s's deployment %s: %s", app.name, app.deployment_id, exc)

    def _plan(self, include: Callable[[str], bool], busy: set[str], down: set[str]) -> ReconcilePlan:
        return self.plan(include, busy, down, self.timeline())

    def timeline(self, unhealthy_since: dict[str, float] | None = None,
                 unhealthy_grace: float | None = None) -> Timeline:
        """When each engine stopped being up (or last came up), for the diff; unhealthy replicas as given."""
        engines = list(self.cluster.engines.values())
        ops = getattr(self.cluster, "ops", None)  # the replicas stopped on purpose are the container ops' to say
        return Timeline(lost_since={h.id: h.lost_since for h in engines if h.lost_since is not None},
                        back_since={h.id: h.up_since for h in engines if h.lost_since is None},
                        unhealthy_since=unhealthy_since or {}, unhealthy_grace=unhealthy_grace,
                        stopped=frozenset(ops.stopped) if ops is not None else frozenset())

    def plan(self, include: Callable[[str], bool], busy: set[str], down: set[str], timeline: Timeline) -> ReconcilePlan:
        """The diff of the apps `include` takes (but the `busy` ones) against the engines' cached containers."""
        hosts = [dataclasses.replace(h, healthy=False) if h.id in down else h for h in self.cluster.snapshot()]
        desired = [a for a in self.cluster.store.list_apps() if include(a.name) and a.name not in busy]
        observed = [c for c in self.cluster.containers() if c.app and include(c.app) and c.app not in busy]
        return diff(desired, observed, hosts, now=self.clock(), weights=self.cluster.weights, grace=self.grace,
                    timeline=timeline)

    # -- apply ------------------------------------------------------------------------------
    def _apply(self, plan: ReconcilePlan, user: str | None) -> list[ActionOutcome]:
        return self.apply(plan.actions, user)

    def apply(self, actions: list[Change], user: str | None) -> list[ActionOutcome]:
        """Create and destroy as planned (the caller holds the apps' locks); a stale or unhealthy replica
        stays while its app's new replicas did not all start."""
        out: list[ActionOutcome] = []
        short: set[str] = set()  # apps whose new replicas did not all start
        for action in actions:
            if action.kind == "create":
                entry = self._create(action, user)
                if entry["outcome"] != "ok":
                    short.add(action.app)
            elif action.reason in ("orphan", "unhealthy") and action.app in short:
                entry = {"outcome": "skipped", "error": f"kept: {action.app}'s new replicas did not all start"}
            else:
                entry = self._destroy(action, user)
            out.append(ActionOutcome(**action.to_dict(), **entry))
        return out

    def _create(self, action: Change, user: str | None) -> dict[str, Any]:
        try:
            spec = self.apps.spec_of(action.app)
            app = self.cluster.store.get_app(action.app)
            if app is None:
                raise NotFoundError(f"no app {action.app!r}", where="reconcile")
            # the deploy path: placement by score, concurrent starts, retries on the next best host
            replicas = self.apps.start_replicas(spec, app.deployment_id, action.count, user=user,
                                                indexes=list(action.indexes) or None)
        except PaasopsError as exc:
            return {"outcome": "failed", "error": str(exc), "replicas": []}
        failed = [r for r in replicas if r.status != "running"]
        return {"outcome": "failed" if failed else "ok", "replicas": [r.result() for r in replicas],
                "error": "; ".join(f"replica {r.index}: {r.error}" for r in failed)}

    def _destroy(self, action: Change, user: str | None) -> dict[str, Any]:
        try:
            self.cluster.operate("destroy", action.container, user=user)
        except NotFoundError:
            return {"outcome": "ok", "error": "", "note": "already gone"}
        except PaasopsError as exc:
            return {"outcome": "failed", "error": str(exc)}
        return {"outcome": "ok", "error": ""}

    # -- report -----------------------------------------------------------------------------
    @staticmethod
    def _result(plan: ReconcilePlan, outcomes: list[ActionOutcome], after: ReconcilePlan, *, dry_run: bool,
                busy: list[str], down: set[str]) -> ReconcileResult:
        actions = outcomes or [ActionOutcome(**a.to_dict(), outcome="planned") for a in plan.actions]
        failed = sum(a.outcome != "ok" for a in outcomes)
        summary = {**plan.summary(), "failed": failed}
        if not plan.actions:
            message = "in sync: nothing to do"
        elif dry_run:
            message = f"plan: {describe(plan.summary(), done=False)}"
        else:
            message = (f"reconcile: {describe(plan.summary(), done=True)}; {failed} failed; "
                       f"{'now in sync' if after.in_sync and not failed else 'still out of sync'}")
        return ReconcileResult(
            dry_run=dry_run, changed=any(a.outcome == "ok" for a in outcomes), in_sync=after.in_sync and not failed,
            message=message, summary=summary, actions=actions,
            remaining=[ReconcileAction(**a.to_dict()) for a in after.actions] if not dry_run else [],
            apps=[AppSync(**s.to_dict()) for s in after.apps], busy=busy, unreachable_hosts=sorted(down),
            unreachable_containers=after.unreachable)
