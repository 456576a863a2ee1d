"""Rolling updates: a running app's replicas replaced batch by batch, each batch ready before the next, rolled
back (or paused) when one fails."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from ..errors import NotFoundError, PaasopsError, PlacementError, UserInputError
from ..results import DeployResult, RemovedReplica, ReplicaFailure, SpecChange
from ..rollout_plan import Batch, OldReplica, plan_batches, too_many_failures
from ..spec import AppSpec
from ..store.records import App
from ..update_policy import PAUSE, STOP_FIRST, UpdatePolicy
from ..vocabulary import DEPLOY_ACTIVE, DEPLOY_PAUSED, LABEL_DEPLOYMENT
from .cluster import Cluster
from .containers import ContainerView, from_sparse
from .deploy import Progress, Replica, pause_for_test
from .images import ImageDistributor
from .log_redaction import SecretScrubber
from .replicas import replica_index

log = logging.getLogger(__name__)
POLL_S = 0.5  # how often the engines are asked how the new replicas are doing, besides on each container event
DETAIL_CHARS = 500  # of a failure's health output or logs, in the report
LOG_LINES = 5  # of an exited replica's output, in the report


class Apps(Protocol):
    """What a rolling update needs of the app manager (service/apps.py), which calls it with the app's lock."""

    cluster: Cluster
    images: ImageDistributor

    def start_replicas(self, spec: AppSpec, deployment: str, count: int, *, user: str | None = None,
                       progress: Progress = ...) -> list[Replica]: ...

    def put_app(self, app: App) -> App: ...

    def release_spec(self, app: App) -> AppSpec: ...


def previous_app(app: App) -> App:
    """The record of the release `app`'s pending deployment replaces (from its `previous`), active again."""
    prev = app.previous or {}
    return App(name=app.name, spec=prev["spec"], count=prev["count"], deployment_id=prev["deployment_id"],
               spec_hash=prev["spec_hash"], state=DEPLOY_ACTIVE, created_at=app.created_at,
               owner=app.owner, team=app.team, secrets=dict(prev.get("secrets") or {}))


@dataclass
class _New:
    """A new-release replica the update started, in batch `batch`; when it became ready, if it did."""

    replica: Replica
    batch: int
    ready_at: float | None = None
    failed: bool = False


def verdict(view: ContainerView | None) -> str:
    """How a new replica is doing: ready | starting, or why it failed (gone | exited | unhealthy)."""
    if view is None:
        return "gone"
    if view.state in ("exited", "dead", "restarting"):
        return "exited"
    if view.unhealthy:
        return "unhealthy"
    return "ready" if view.ready else "starting"


class RollingUpdate:
    """Replaces the replicas of a running app's release with `spec`'s, as its `update:` policy says."""

    def __init__(self, apps: Apps, *, user: str | None = None, progress: Progress = lambda _: None,
                 put: Callable[[App], object] | None = None, clock: Callable[[], float] = time.monotonic,
                 poll: float = POLL_S):
        self.apps, self.cluster = apps, apps.cluster
        self.put = put or apps.put_app  # how the app's record is written (AppManager's: a failing store is a 503)
        self.user, self.progress, self.clock, self.poll = user, progress, clock, poll
        self.scrubber = SecretScrubber(())  # the new release's secret values, cut out of what a failure shows

    def run(self, spec: AppSpec, app: App, old: list[ContainerView], changes: list[SpecChange]) -> DeployResult:
        """Roll `app` (its pending record is written) from the replicas in `old` to `spec`; commits it active,
        or puts the previous release back (`failure_action: rollback`) or leaves it pending (`pause`).

        An image that is nowhere, or a first batch that cannot be placed beside the replicas it replaces
        (start-first), is refused before anything changed: PlacementError or UserInputError, as a first deploy.
        """
        policy = spec.update
        self.scrubber = SecretScrubber(spec.secrets.values())
        self.apps.images.require(spec.image, list(self.cluster.engines.values()))
        by_id = {c.id: c for c in old}
        batches = plan_batches([OldReplica(c.id, replica_index(c), c.ready) for c in old], app.count, policy)
        new: list[_New] = []
        removed: list[RemovedReplica] = []
        failures: list[ReplicaFailure] = []
        # Start-first: a batch's old replicas are removed off the critical path (its new ones are ready, so
        # capacity holds), while the next batch starts; every removal is joined before the update ends.
        removing: list[Future[list[RemovedReplica]]] = []
        # ... and only once the next batch's containers started: the engines start those faster alone, and
        # then only probe them for `interval`, time the removals fill.
        ready_old: list[str] = []

        def remove_ready_old() -> None:
            if ready_old:
                removing.append(remover.submit(self._remove, list(ready_old), by_id))
                ready_old.clear()

        def settle() -> bool:  # a batch that does not fit waits for the removals and is placed again
            remove_ready_old()
            return self._settle(removing, removed)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollout-remove") as remover:
            for batch in batches:
                self.progress({"event": "batch", "batch": batch.number, "of": len(batches), "state": "starting",
                               "start": batch.start, "replace": len(batch.stop)})
                if policy.order == STOP_FIRST:
                    removed += self._remove(batch.stop, by_id)
                failures += self._start(spec, app, batch, new,
                                        refuse=batch.number == 1 and policy.order != STOP_FIRST, settle=settle)
                remove_ready_old()
                if not too_many_failures(len(failures), app.count, policy):
                    failures += self._wait(app.deployment_id, new, batch.number, policy.ready_seconds(spec.health),
                                           policy.monitor_s, self._limit(len(failures), app.count, policy))
                if too_many_failures(len(failures), app.count, policy):
                    removed += self._joined(removing)
                    return self._failed(spec, app, batch, len(batches), new, removed, failures, changes)
                if batch.number == len(batches):
                    pause_for_test("before-commit")  # both releases run here: crash tests cut `serve` at this point
                if policy.order != STOP_FIRST:
                    ready_old.extend(batch.stop)
                self.progress({"event": "batch", "batch": batch.number, "of": len(batches), "state": "ready",
                               "ready": sum(n.ready_at is not None and not n.failed for n in new)})
            remove_ready_old()
            # The last batches are watched for `monitor` too before the update is done.
            failures += self._wait(app.deployment_id, new, 0, 0.0, policy.monitor_s,
                                   self._limit(len(failures), app.count, policy))
            removed += self._joined(removing)
        if too_many_failures(len(failures), app.count, policy):
            return self._failed(spec, app, batches[-1], len(batches), new, removed, failures, changes)
        app.state, app.previous = DEPLOY_ACTIVE, None
        self.put(app)  # fails: the pending record stays, and start-up or reconcile finishes it
        running = sum(n.replica.status == "running" for n in new)
        self.cluster.record("deploy-app", user=self.user, app=app.name,
                            message=f"rolled {app.name} out in {len(batches)} batch(es): {running}/{app.count} running",
                            data={"deployment": app.deployment_id, "changed": [c.field for c in changes],
                                  "batches": len(batches)})
        return DeployResult(app=app.name, deployment=app.deployment_id, spec_hash=app.spec_hash, count=app.count,
                            replicas=[n.replica.result() for n in new], removed=removed,
                            ok=all(n.replica.status == "running" for n in new), new_release=True, changes=changes,
                            batches=len(batches), failures=failures, rolled_back=False, paused=False)

    @staticmethod
    def _limit(seen: int, count: int, policy: UpdatePolicy) -> Callable[[int], bool]:
        """Whether `seen` failures so far and the ones a wait found are more than the policy tolerates."""
        return lambda found: too_many_failures(seen + found, count, policy)

    # -- one batch -----------------------------------------------------------------------
    def _start(self, spec: AppSpec, app: App, batch: Batch, new: list[_New], *, refuse: bool = False,
               settle: Callable[[], bool] = lambda: False) -> list[ReplicaFailure]:
        """Start the batch's new replicas (the deploy way); those that did not start are failures. `refuse`:
        nothing changed yet, so a batch that cannot be placed is raised instead (the deploy is refused).
        `settle`: wait for the earlier batches' removals; whether any freed room (then placing is tried again)."""
        if not batch.start:
            return []
        try:
            try:
                started = self.apps.start_replicas(spec, app.deployment_id, batch.start, user=self.user,
                                                   progress=self.progress)
            except PlacementError:  # placed before any start: the room the last batch's old replicas free may do
                if not settle():
                    raise
                started = self.apps.start_replicas(spec, app.deployment_id, batch.start, user=self.user,
                                                   progress=self.progress)
        except PaasopsError as exc:  # e.g. no room for the batch beside the replicas it replaces
            if refuse and isinstance(exc, (PlacementError, UserInputError)):
                raise  # nothing started nor removed yet: refused, as a first deploy is
            return [ReplicaFailure(index=0, batch=batch.number, reason="did not start", detail=str(exc))]
        out = []
        for r in started:
            item = _New(r, batch.number, failed=r.status != "running")
            new.append(item)
            if item.failed:
                out.append(ReplicaFailure(index=r.index, batch=batch.number, reason="did not start",
                                          detail=self._scrub(r.error), name=r.name, host=r.host,
                                          id=r.container_id))
        return out

    def _wait(self, deployment: str, new: list[_New], batch: int, timeout: float, monitor: float,
              give_up: Callable[[int], bool] = lambda _: False) -> list[ReplicaFailure]:
        """Until batch `batch`'s replicas are ready (a replica not ready within `timeout` seconds fails), or,
        for batch 0, until every replica was watched `monitor` seconds since it became ready; sooner when
        `give_up(failures seen)`. The failures seen meanwhile, in any batch (a ready one may fail later)."""
        failures: list[ReplicaFailure] = []
        deadline = self.clock() + timeout
        changes = self.cluster.changes
        while True:
            now, seen = self.clock(), changes.seen
            watched = [n for n in new if not n.failed and (n.ready_at is None or now < n.ready_at + monitor)]
            views, unknown = self._observe(deployment, {n.replica.host for n in watched if n.replica.host})
            for n in watched:
                if n.replica.host in unknown:
                    continue  # its engine did not answer this time: neither ready nor failed yet
                state = verdict(views.get(n.replica.container_id or ""))
                if state == "ready":
                    n.ready_at = n.ready_at or now
                elif state != "starting":
                    failures.append(self._failure(n, state))
            if give_up(len(failures)):
                return failures
            if batch:
                waiting = [n for n in new if n.batch == batch and not n.failed and n.ready_at is None]
                if not waiting:
                    return failures
                if now >= deadline:
                    return failures + [self._failure(n, "not ready", f" (within {timeout:.0f}s)") for n in waiting]
                until = deadline
            else:
                ends = [n.ready_at + monitor for n in new if not n.failed and n.ready_at is not None
                        and now < n.ready_at + monitor]
                if not ends and all(n.failed or n.ready_at is not None for n in new):
                    return failures
                until = min(ends, default=now + self.poll)
            # woken by the next container event (a health_status, a die), else polled; never past a deadline
            changes.wait(seen, min(self.poll, until - self.clock()))

    def _observe(self, deployment: str, hosts: Iterable[str]) -> tuple[dict[str, ContainerView], set[str]]:
        """The deployment's containers as the engines list them now (not the event-fed cache), and the
        engines that did not answer."""
        views: dict[str, ContainerView] = {}
        unknown: set[str] = set()
        for host in hosts:
            handle = self.cluster.engines.get(host)
            try:
                listed = handle.client.api.containers(all=True, filters={"label": f"{LABEL_DEPLOYMENT}={deployment}"}) \
                    if handle else []
            except Exception as exc:  # an engine that fails a list is asked again at the next poll
                log.warning("rolling update: listing %s: %s", host, exc)
                unknown.add(host)
                continue
            views.update((entry["Id"], from_sparse(host, entry)) for entry in listed)
        return views, unknown

    def _failure(self, n: _New, reason: str, more: str = "") -> ReplicaFailure:
        n.failed = True
        r = n.replica
        detail = self._explain(r.host, r.container_id) + more if reason != "gone" else "it was removed"
        return ReplicaFailure(index=r.index, batch=n.batch, reason=reason, detail=detail.strip(), name=r.name,
                              host=r.host, id=r.container_id)

    def _explain(self, host: str | None, container_id: str | None) -> str:
        """The health check's last output, or how the container exited and its last lines (secrets redacted)."""
        handle = self.cluster.engines.get(host or "")
        if handle is None or not container_id:
            return ""
        try:
            state = handle.client.api.inspect_container(container_id).get("State") or {}
            probes = (state.get("Health") or {}).get("Log") or []
            if probes:
                last = probes[-1]
                return self._scrub(f"health check exit {last.get('ExitCode')}: {last.get('Output') or ''}")
            if state.get("Status") in ("exited", "dead", "restarting"):
                tail = handle.client.api.logs(container_id, tail=LOG_LINES).decode(errors="replace")
                return self._scrub(f"exit code {state.get('ExitCode')} {state.get('Error') or ''}: {tail}")
            return f"state {state.get('Status')}" + (f", health {state['Health'].get('Status')}"
                                                      if state.get("Health") else "")
        except Exception as exc:  # gone meanwhile, or the engine does not answer: say so
            return f"(could not inspect it: {exc})"

    def _scrub(self, text: str) -> str:
        shown = self.scrubber.scrub(text.encode()).decode(errors="replace")
        return " ".join(shown.split())[:DETAIL_CHARS]

    def _settle(self, removing: list[Future[list[RemovedReplica]]], removed: list[RemovedReplica]) -> bool:
        """Wait for the removals under way, adding them to `removed`; whether there were any."""
        done = self._joined(removing)
        removed.extend(done)
        return bool(done)

    @staticmethod
    def _joined(removing: list[Future[list[RemovedReplica]]]) -> list[RemovedReplica]:
        """What the background removals did, each waited for (an engine error in one is raised here)."""
        done = [r for f in removing for r in f.result()]
        removing.clear()
        return done

    def _remove(self, ids: Iterable[str], by_id: dict[str, ContainerView]) -> list[RemovedReplica]:
        """Destroy these replicas (of the release being replaced); one already gone is no error."""
        out = []
        for cid in ids:
            c = by_id[cid]
            try:
                self.cluster.operate("destroy", cid, user=self.user)
            except NotFoundError:
                pass
            out.append(RemovedReplica(id=cid, name=c.name, host=c.engine_id))
            self.progress({"event": "removed", "id": cid, "host": c.engine_id})
        return out

    # -- a failed batch --------------------------------------------------------------------
    def _failed(self, spec: AppSpec, app: App, batch: Batch, of: int, new: list[_New], removed: list[RemovedReplica],
                failures: list[ReplicaFailure], changes: list[SpecChange]) -> DeployResult:
        policy = spec.update
        self.progress({"event": "batch", "batch": batch.number, "of": of, "state": "failed",
                       "failures": [f.model_dump(mode="json") for f in failures]})
        why = "; ".join(f"replica {f.index}: {f.reason}" for f in failures[:5])
        result = DeployResult(app=app.name, deployment=app.deployment_id, spec_hash=app.spec_hash, count=app.count,
                              ok=False, new_release=True, changes=changes, batches=of, failures=failures,
                              rolled_back=False, paused=False)
        if policy.failure_action == PAUSE:
            app.previous = {**(app.previous or {}), DEPLOY_PAUSED: {"batch": batch.number, "of": of, "why": why}}
            self.put(app)  # still pending, marked: nothing finishes it behind the next deploy's back
            self.progress({"event": "paused", "batch": batch.number})
            self.cluster.record("deploy-app", user=self.user, app=app.name,
                                message=f"paused {app.name}'s rolling update at batch {batch.number}/{of} "
                                        f"(left pending): {why}",
                                data={"deployment": app.deployment_id, "paused": True})
            return result.model_copy(update={"paused": True, "removed": removed,
                                             "replicas": [n.replica.result() for n in new]})
        return self._roll_back(app, new, removed, result, why)

    def _roll_back(self, app: App, new: list[_New], removed: list[RemovedReplica], result: DeployResult,
                   why: str) -> DeployResult:
        """The previous release again: recorded active first (a crash now leaves reconcile the right target),
        its replaced replicas started again and ready, then every replica of the new release removed."""
        previous = previous_app(app)
        have = sum(c.spec_hash == previous.spec_hash and c.reserving for c in self.cluster.containers(app=app.name))
        self.progress({"event": "rollback", "replicas": max(0, previous.count - have)})
        self.put(previous)
        old_spec = self.apps.release_spec(previous)
        restored: list[Replica] = []
        try:  # as many as were replaced (more, if the previous release lacked some when the update began)
            restored = self.apps.start_replicas(old_spec, previous.deployment_id, max(0, previous.count - have),
                                                user=self.user, progress=self.progress)
        except PaasopsError as exc:  # reconcile starts them later: the record says how many run
            log.warning("rolling back %s: restarting its previous replicas: %s", app.name, exc)
        back = [_New(r, 1, failed=r.status != "running") for r in restored]
        self._wait(previous.deployment_id, back, 1, old_spec.update.ready_seconds(old_spec.health), 0.0)
        gone = {n.replica.container_id: RemovedReplica(id=n.replica.container_id, name=n.replica.name or "",
                                                       host=n.replica.host or "")
                for n in new if n.replica.container_id}
        gone.update((c.id, RemovedReplica(id=c.id, name=c.name, host=c.engine_id))
                    for c in self.cluster.containers(app=app.name) if c.deployment == app.deployment_id)
        dropped = []
        for cid, what in sorted(gone.items()):
            try:
                self.cluster.operate("destroy", cid, user=self.user)
            except NotFoundError:
                continue  # a replica that failed to start left nothing behind
            dropped.append(what)
        self.cluster.record("deploy-app", user=self.user, app=app.name,
                            message=f"rolled back {app.name}'s update {app.deployment_id} to {previous.deployment_id}"
                                    f" ({len(restored)} replica(s) restored): {why}",
                            data={"deployment": app.deployment_id, "rolled_back": True})
        running = sum(c.spec_hash == previous.spec_hash and c.state == "running"
                      for c in self.cluster.containers(app=app.name))
        return result.model_copy(update={"rolled_back": True, "count": previous.count, "removed": dropped,
                                         "replicas": [r.result() for r in restored], "running": running})
