"""Apps: deploy a spec to N replicas, scale it, and keep its desired state in the store."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ..auth.ownership import Who, check_app, may_access, no_app, owner_labels, taken
from ..auth.vault import SecretVault
from ..errors import NotFoundError, PaasopsError, PlacementError, StoreUnavailable, UserInputError
from ..expose import Expose
from ..pki import default_pki_dir
from ..placement import scale_down_order
from ..results import (
    AppDeleted,
    DeployResult,
    DryRunPlan,
    HostExplanation,
    PlannedReplica,
    RemovedReplica,
    SpecChange,
)
from ..spec import AppSpec, legacy_spec_hash, new_deployment_id, parse_app_spec, spec_hash
from ..spec_diff import spec_diff
from ..store.records import App
from ..vocabulary import DEFAULT_MAX_COUNT, DEFAULT_PIDS_LIMIT, DEPLOY_ACTIVE, DEPLOY_PAUSED, DEPLOY_PENDING, UP
from .app_watch import desired
from .cluster import Cluster
from .containers import ContainerView
from .deploy import Deployer, Progress, Replica, pause_for_test, plan
from .history import ReleaseHistory
from .images import ImageDistributor
from .keyed_lock import KeyedLocks
from .replicas import free_indexes, replica_index, scale_down_victims
from .rollout import RollingUpdate, previous_app
from .route_table import check_conflicts, exposes

log = logging.getLogger(__name__)


def release_of(app: App | None) -> dict | None:
    """What a deployment record keeps of the release it replaces until it commits."""
    if app is None:
        return None
    return {"deployment_id": app.deployment_id, "spec_hash": app.spec_hash, "count": app.count, "spec": app.spec,
            "secrets": dict(app.secrets)}  # sealed, as the record keeps them


def recover_pending(apps: AppManager, *, wait: float = 60.0, poll: float = 1.0) -> None:
    """At start-up: finish the deployments a crash left pending, once an engine is up (or `wait` passed)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and not any(h.healthy for h in apps.cluster.snapshot()):
        time.sleep(poll)
    pending = [app for app in apps.cluster.store.list_apps() if app.state == DEPLOY_PENDING]
    for handle in list(apps.cluster.engines.values()) if pending else []:
        if handle.status == UP:  # count what runs now, not what the event streams have caught up with
            try:
                handle.sync()
            except PaasopsError as exc:
                log.warning("finishing pending deployments: %s", exc)
    for app in pending:
        try:
            apps.recover(app.name)
        except PaasopsError as exc:  # left pending: reconcile tries again
            log.warning("finishing %s's pending deployment: %s", app.name, exc)


class AppManager:
    """Deploys and scales apps; one operation per app at a time."""

    def __init__(self, cluster: Cluster, images: ImageDistributor, *, per_host: int = 4,
                 pids_limit: int = DEFAULT_PIDS_LIMIT, vault: SecretVault | None = None,
                 max_count: int = DEFAULT_MAX_COUNT):
        self.cluster = cluster
        self.history = ReleaseHistory(cluster)  # one row per deploy, written at each of its outcomes
        self.images = images
        self._vault = vault
        self.per_host = per_host
        self.pids_limit = pids_limit
        self.max_count = max_count
        self._app_locks: KeyedLocks[threading.Lock] = KeyedLocks()
        self._written: dict[str, tuple | None] = {}  # app -> the desired state this process last put
        self._claims: dict[str, Expose] = {}  # app -> the routes a deploy under way takes (`claiming`)
        self._claims_lock = threading.Lock()

    @property
    def vault(self) -> SecretVault:
        """The apps' secrets, sealed with a key beside the cluster CA (made on first use)."""
        if self._vault is None:
            self._vault = SecretVault(self.cluster.pool.pki_dir or default_pki_dir())
        return self._vault

    def written(self, name: str) -> tuple | None:
        """The desired state (`app_watch.desired`) this process last put for app `name`, if any."""
        return self._written.get(name)

    def put_app(self, app: App) -> App:
        """Put the app's desired state, noted first as this process's own (the feed may be quicker)."""
        self._written[app.name] = desired(app)
        return self.cluster.store.put_app(app)

    def app_lock(self, name: str) -> threading.Lock:
        """The lock every deploy and scale of app `name` holds; take it to keep them out (reconcile does)."""
        return self._app_locks[name]

    @contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Hold app `name`'s lock: no deploy or scale of it runs meanwhile."""
        with self.app_lock(name):
            yield

    def replicas(self, name: str, hash_: str | None = None) -> list[ContainerView]:
        return [c for c in self.cluster.containers(app=name)
                if c.reserving and (hash_ is None or c.spec_hash == hash_)]

    def spec_of(self, name: str) -> AppSpec:
        app = self.cluster.store.get_app(name)
        if app is None:
            raise NotFoundError(f"no app {name!r} (deploy it first)", where="apps")
        return self.spec_for(app)

    def spec_for(self, app: App) -> AppSpec:
        """The spec an app record keeps, with its secrets opened (they go to the engine at create only)."""
        spec = parse_app_spec(app.spec, source=f"app {app.name}")
        if not app.secrets:
            return spec
        return self._with_digest(spec.with_secrets(self.vault.open_all(app.name, app.secrets), ""))

    def release_spec(self, app: App) -> AppSpec:
        """The spec of app record `app` as its release: secrets opened, with their digest (its hash needs it)."""
        return self._with_digest(self.spec_for(app))

    def secret_values(self, name: str | None) -> list[str]:
        """The values of app `name`'s secrets (to cut them out of what its containers print); none if unknown."""
        app = self.cluster.store.get_app(name) if name else None
        return list(self.vault.open_all(app.name, app.secrets).values()) if app and app.secrets else []

    def _with_digest(self, spec: AppSpec) -> AppSpec:
        """`spec` with the keyed digest of its secrets (its spec hash needs it); their values hidden from events."""
        if not spec.secrets:
            return spec
        self.cluster.event_log.hide(spec.secrets.values())
        return spec.with_secrets(spec.secrets, self.vault.digest(spec.name, spec.secrets))

    def get(self, name: str, *, who: Who | None = None) -> App:
        """App `name`'s record, if `who` may see it (else 404, as if it did not exist)."""
        app = self.cluster.store.get_app(name)
        if app is None:
            raise no_app(name)
        check_app(who, name, app.owner, app.team)
        return app

    def visible(self, *, who: Who | None = None) -> list[App]:
        """The apps `who` may see, by name."""
        return [a for a in self.cluster.store.list_apps() if may_access(who, a.owner, a.team)]

    # -- deploy --------------------------------------------------------------------------
    def check_count(self, count: int) -> None:
        """A count between 0 and the service's max_count (a huge one would be planned replica by replica)."""
        if count < 0:
            raise UserInputError(f"count must be >= 0, got {count}", where="count")
        if count > self.max_count:
            raise UserInputError(f"{count} replicas is over this service's limit of {self.max_count} per app "
                                 "(the max_count setting)", where="count")

    def release_change(self, spec: AppSpec, current: App | None) -> tuple[bool, list[SpecChange]]:
        """Whether `spec` (with its secrets' digest) is a new release of app `current`, and what changed.

        A record written by the version-1 hash rule is the same release as an identical spec: its
        replicas are not replaced on upgrade, and new ones carry its hash (`AppSpec.as_release`).
        """
        if current is None:
            return True, []
        changes = spec_diff(self._with_digest(self.spec_for(current)), spec)
        same = current.spec_hash == spec_hash(spec) or (current.spec_hash == legacy_spec_hash(spec) and not changes)
        return not same, changes

    def dry_run(self, spec: AppSpec, count: int, *, who: Who | None = None) -> DryRunPlan:
        self.check_count(count)
        spec = self._with_digest(spec)
        current = self.cluster.store.get_app(spec.name)
        if current and not may_access(who, current.owner, current.team):
            raise taken(spec.name)  # as the deploy would: another account's spec is not shown
        new_release, changes = self.release_change(spec, current)
        self.check_routes(spec)
        the_plan = plan(self.cluster, spec, count)
        if not the_plan.complete:
            raise PlacementError(the_plan.failure_message() or "no placement", where=spec.name)
        return DryRunPlan(app=spec.name, count=count, strategy=the_plan.strategy,
                          plan=[PlannedReplica(replica=a.replica_index, host=a.host_id, score=a.score,
                                               cpu=a.cpu_term, memory=a.mem_term) for a in the_plan.assignments],
                          explanation=[HostExplanation(**row) for row in the_plan.explain_table()],
                          new_release=new_release, changes=changes)

    def deploy(self, spec: AppSpec, count: int | None = None, *, user: str | None = None,
               progress: Progress = lambda _: None, who: Who | None = None) -> DeployResult:
        """Make the app run `count` replicas of `spec`; a changed spec replaces the old replicas (those of a
        running app batch by batch, as its `update:` says: service/rollout.py; a new app's all at once).

        A new app belongs to `who` (and its team); a redeploy keeps the app's owner, and only who may
        act on the app may redeploy it (else 403: the name is another account's).
        """
        count = spec.count if count is None else count
        self.check_count(count)
        spec = self._with_digest(spec)
        with self.locked(spec.name), self.claiming(spec):
            new_hash = spec_hash(spec)
            current = self.cluster.store.get_app(spec.name)
            if current and not may_access(who, current.owner, current.team):
                raise taken(spec.name)
            new_release, changes = self.release_change(spec, current)
            if current and not new_release and not (current.previous or {}).get(DEPLOY_PAUSED):
                stored = spec.stored()  # no release fields: kept as given
                current.spec = {**current.spec, "update": stored["update"], "expose": stored["expose"]}
                return self._scale(spec, current, count, user, progress)
            if changes:  # shown before anything starts (the result repeats it)
                progress({"event": "changes", "changes": [c.model_dump(mode="json") for c in changes]})
            old = self.replicas(spec.name)
            deployment = new_deployment_id()
            owner, team = (current.owner, current.team) if current and current.owner else \
                (who.name, who.team) if who else (None, None)
            app = App(name=spec.name, spec=spec.stored(), count=count, deployment_id=deployment,
                      spec_hash=new_hash, state=DEPLOY_PENDING, previous=self._replaced(current), owner=owner,
                      team=team, secrets=self.vault.seal_all(spec.name, spec.secrets) if spec.secrets else {})
            # Intent before action: a store that fails here fails the deploy before any container starts.
            self._put(app)
            self.history.started(app, user=user)
            pause_for_test("after-record")
            if current is not None and old:  # a running release is replaced batch by batch (service/rollout.py)
                try:
                    result = RollingUpdate(self, user=user, progress=progress, put=self._put).run(
                        spec, app, old, changes)
                except (PlacementError, UserInputError):  # refused before anything changed: roll it back
                    self._roll_back(current, spec.name)
                    raise
                self.history.ended(app, result)
                return result
            try:
                replicas = self.start_replicas(spec, deployment, count, user=user, progress=progress)
            except (PlacementError, UserInputError):  # refused before any container started: roll it back
                self._roll_back(current, spec.name)
                raise
            ok = all(r.status == "running" for r in replicas)
            pause_for_test("before-commit")
            if ok:
                for c in old:  # the new spec replaces the old one only once all new replicas run
                    self.cluster.operate("destroy", c.id, user=user)
            app.state, app.previous = DEPLOY_ACTIVE, None
            self._put(app)  # fails: the pending record stays, and start-up or reconcile finishes it
            self.history.committed(app, ok=ok)
            self.cluster.record("deploy-app", user=user, app=spec.name,
                                message=f"deployed {spec.name}: {sum(r.status == 'running' for r in replicas)}"
                                        f"/{count} running",
                                data={"deployment": deployment, "changed": [c.field for c in changes]})
            return DeployResult(app=spec.name, deployment=deployment, spec_hash=new_hash, count=count,
                                replicas=[r.result() for r in replicas], ok=ok,
                                removed=[RemovedReplica(id=c.id, name=c.name, host=c.engine_id) for c in old]
                                if ok else [], new_release=True, changes=changes)

    def check_routes(self, spec: AppSpec) -> None:
        """Refuse (UserInputError) a spec whose hostname+path or tcp port another app is routed on (its
        record says so, or a deploy of it under way takes them)."""
        with self._claims_lock:
            self._check_routes(spec)

    def _check_routes(self, spec: AppSpec) -> None:
        """`check_routes`; the caller holds the claims' lock."""
        routed = exposes((a.name, a.spec) for a in self.cluster.store.list_apps() if a.name != spec.name)
        check_conflicts(spec.name, spec.expose, {**routed, **self._claims})

    @contextmanager
    def claiming(self, spec: AppSpec) -> Iterator[None]:
        """`check_routes`, then hold the spec's routes while its deploy runs: two deploys of different apps
        cannot both take one hostname before either has written its record."""
        with self._claims_lock:
            self._check_routes(spec)
            if spec.expose is not None:
                self._claims[spec.name] = spec.expose
        try:
            yield
        finally:
            with self._claims_lock:
                self._claims.pop(spec.name, None)

    @staticmethod
    def _replaced(current: App | None) -> dict | None:
        """The release a deploy replaces: the app's, or, over a paused rolling update, the one that replaced."""
        prev = current.previous if current is not None else None
        if prev is not None and prev.get(DEPLOY_PAUSED):
            return {k: v for k, v in prev.items() if k != DEPLOY_PAUSED}
        return release_of(current)

    def _roll_back(self, current: App | None, name: str) -> None:
        """Put back the record a deploy replaced (none: the app was new), as if it never began."""
        self.history.pending_rolled_back(name)
        if current is None:
            self.cluster.store.delete_app(name)
        else:
            self._put(current)

    def _put(self, app: App) -> None:
        """Record `app`; any failure of the store is StoreUnavailable (503), whatever the backend raised."""
        try:
            self.put_app(app)
        except PaasopsError:
            raise
        except Exception as exc:  # e.g. sqlite3.OperationalError: a full disk, a read-only file
            raise StoreUnavailable(f"the state store could not record {app.name}'s deployment "
                                   f"{app.deployment_id} ({app.state}): {exc}", where="state") from None

    def start_replicas(self, spec: AppSpec, deployment: str, count: int, *, user: str | None = None,
                       progress: Progress = lambda _: None, indexes: list[int] | None = None) -> list[Replica]:
        """Start `count` more replicas of `spec` the deploy way (placed by score, started concurrently,
        each failure retried on the next best host), numbered after the app's existing ones (or `indexes`:
        the numbers of the replicas they replace — reconcile's diff chose them, or a drain moves them).

        The caller holds the app's lock (`locked`/`app_lock`). Failed replicas are returned too.
        """
        if count == 0:
            return []
        if indexes is None or len(indexes) != count:
            indexes = free_indexes((replica_index(c) for c in self.cluster.containers(app=spec.name)), count)
        record = self.cluster.store.get_app(spec.name)  # written before any replica starts: its owner
        labels = owner_labels(record.owner, record.team) if record else {}
        if record and record.spec_hash and record.spec_hash != spec.release:  # a version-1 hash: keep it
            spec = spec.as_release(record.spec_hash)
        return Deployer(self.cluster, self.images, per_host=self.per_host, user=user,
                        pids_limit=self.pids_limit, labels=labels).run(spec, deployment, indexes, progress)

    # -- scale ---------------------------------------------------------------------------
    def scale(self, name: str, count: int, *, user: str | None = None,
              progress: Progress = lambda _: None, who: Who | None = None) -> DeployResult:
        self.check_count(count)
        with self.locked(name):
            app = self.get(name, who=who)  # absent or another account's: the same 404
            return self._scale(self.spec_for(app), app, count, user, progress)

    def _scale(self, spec: AppSpec, app: App, count: int, user, progress) -> DeployResult:
        current = self.replicas(spec.name, app.spec_hash)
        started, removed = [], []
        if count != app.count:  # intent before action: a crash mid-scale leaves the count asked for
            app.count = count
            self._put(app)
        if count > len(current):
            started = self.start_replicas(spec, app.deployment_id, count - len(current), user=user,
                                          progress=progress)
        elif count < len(current):
            order = scale_down_order(self.cluster.snapshot(), spec.name, len(current) - count,
                                     cpus=spec.cpus, memory_mb=spec.memory_mb, weights=self.cluster.weights)
            for victim in scale_down_victims(current, order):
                host = victim.engine_id
                self.cluster.operate("destroy", victim.id, user=user)
                removed.append(RemovedReplica(id=victim.id, name=victim.name, host=host))
                progress({"event": "removed", "id": victim.id, "host": host})
        if app.state == DEPLOY_PENDING and all(r.status == "running" for r in started):
            self._retire_previous(app, user)
        self._put(app)
        running = len(current) + sum(r.status == "running" for r in started) - len(removed)
        self.cluster.record("scale-container", user=user, app=spec.name,
                            message=f"scaled {spec.name} from {len(current)} to {count} ({running} running)")
        return DeployResult(app=spec.name, deployment=app.deployment_id, spec_hash=app.spec_hash, count=count,
                            before=len(current), running=running, replicas=[r.result() for r in started],
                            removed=removed, ok=all(r.status == "running" for r in started))

    # -- delete --------------------------------------------------------------------------
    def delete(self, name: str, *, user: str | None = None, who: Who | None = None) -> AppDeleted:
        """Destroy every replica of app `name` (any spec, running or not) and remove its record, its
        sealed secrets with it."""
        with self.locked(name):
            self.get(name, who=who)
            removed = []
            for c in self.cluster.containers(app=name, foreign=False):
                self.cluster.operate("destroy", c.id, user=user)
                removed.append(RemovedReplica(id=c.id, name=c.name, host=c.engine_id))
            self.cluster.store.delete_app(name)
            self.cluster.record("delete-app", user=user, app=name,
                                message=f"deleted {name}: {len(removed)} replicas destroyed")
            return AppDeleted(deleted=name, removed=removed)

    # -- recovery ------------------------------------------------------------------------
    def recover(self, name: str, *, user: str | None = None) -> bool:
        """Finish app `name`'s pending deployment (a deploy cut short by a crash); whether it committed."""
        with self.locked(name):
            app = self.cluster.store.get_app(name)
            if app is None or app.state != DEPLOY_PENDING:
                return False
            return self.finish(app, user=user)

    def finish(self, app: App, *, user: str | None = None) -> bool:
        """Start what a pending deployment lacks and commit it once its replicas run; the caller holds
        the app's lock. Its replicas that were created and never started are crash leftovers: they go.
        A rolling update paused on a failure (`DEPLOY_PAUSED`) is not finished: the next deploy decides."""
        if (app.previous or {}).get(DEPLOY_PAUSED):
            return False
        spec = self.spec_for(app)
        for c in self.replicas(app.name, app.spec_hash):
            if c.state == "created":
                self.cluster.operate("destroy", c.id, user=user)
        have = len(self.replicas(app.name, app.spec_hash))
        try:
            started = self.start_replicas(spec, app.deployment_id, app.count - have, user=user) \
                if have < app.count else []
        except (PlacementError, UserInputError) as exc:
            if not any(h.placeable for h in self.cluster.engines.values()):
                raise  # no engine up yet: nothing is known to be unplaceable, try again later
            return self._roll_back_pending(app, str(exc), user)
        if not all(r.status == "running" for r in started):
            return False  # still pending: both releases stay known, the next reconcile tries again
        self._retire_previous(app, user)
        self.put_app(app)
        self.cluster.record("deploy-app", user=user, app=app.name,
                            message=f"finished {app.name}'s pending deployment {app.deployment_id}: "
                                    f"{have + len(started)}/{app.count} running",
                            data={"deployment": app.deployment_id, "recovered": True})
        return True

    def _roll_back_pending(self, app: App, why: str, user: str | None) -> bool:
        """A pending deployment the cluster cannot take: its replicas go and the release it replaced is
        active again (the app was new: its record goes), as if it never began. Returns False."""
        prev = app.previous
        if prev is not None and "spec" not in prev:
            raise PlacementError(f"{why} (its previous release is not recorded whole: left pending)",
                                 where=app.name)
        self.history.rolled_back(app, why)
        for c in self.replicas(app.name, app.spec_hash):
            if c.deployment == app.deployment_id:  # its own replicas only, never the release it replaced
                self.cluster.operate("destroy", c.id, user=user)
        if prev is None:
            self.cluster.store.delete_app(app.name)
        else:
            self.put_app(previous_app(app))
        self.cluster.record("deploy-app", user=user, app=app.name,
                            message=f"rolled back {app.name}'s pending deployment {app.deployment_id}: {why}",
                            data={"deployment": app.deployment_id, "rolled_back": True})
        return False

    def _retire_previous(self, app: App, user: str | None) -> None:
        """Commit `app` (its new replicas run): the replicas of any other spec go, then it is active."""
        for c in self.replicas(app.name):
            if c.spec_hash != app.spec_hash:
                self.cluster.operate("destroy", c.id, user=user)
        app.state, app.previous = DEPLOY_ACTIVE, None
        self.history.committed(app)
