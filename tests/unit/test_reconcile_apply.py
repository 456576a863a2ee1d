"""Reconciler with a fake cluster: dry runs change nothing, outcomes, busy apps, the file lock, CLI exit codes."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from paasops.cli.commands.ops import exit_code
from paasops.errors import ConflictError, ConnectionFailed, NotFoundError
from paasops.placement import HostSnapshot
from paasops.results import ActionOutcome, ReconcileResult
from paasops.service.containers import ContainerView
from paasops.service.deploy import Replica
from paasops.service.reconcile_apply import Reconciler, describe, lock_for, matcher
from paasops.service.reconcile_lock import EtcdLock, FileLock
from paasops.service.replicas import free_indexes, replica_index
from paasops.store.records import App

NOW = 10_000.0


def ctr(id_: str, app: str, hash_: str, state: str = "running", index: int = 1) -> ContainerView:
    return ContainerView(id=id_, name=id_, engine_id="a", image="img", state=state, created=NOW - 600,
                         labels={"paasops.app": app, "paasops.spec-hash": hash_, "paasops.replica": str(index)})


class FakeCluster:
    def __init__(self, apps: list[App], containers: list[ContainerView], fail: set[str] = frozenset()):
        self.engines: dict = {}
        self.weights = None
        self.apps = {a.name: a for a in apps}
        self.store = SimpleNamespace(list_apps=lambda: list(self.apps.values()), get_app=self.apps.get)
        self.live = list(containers)
        self.fail = fail
        self.destroyed: list[str] = []
        self.events: list[dict] = []

    def snapshot(self):
        return [HostSnapshot(id="a", total_cpu=4, total_mem_mb=4096)]

    def containers(self):
        return list(self.live)

    def operate(self, action, prefix, *, user=None):
        if prefix in self.fail:
            raise ConnectionFailed("unreachable", where="engine a")
        if prefix not in {c.id for c in self.live}:
            raise NotFoundError(f"no container {prefix!r}")
        self.live = [c for c in self.live if c.id != prefix]
        self.destroyed.append(prefix)

    def record(self, type_, **fields):
        self.events.append({"type": type_, **fields})


class FakeApps:
    def __init__(self, cluster: FakeCluster, start_ok: bool = True):
        self.cluster = cluster
        self.start_ok = start_ok
        self.locks: dict[str, threading.Lock] = {}
        self.started: list[tuple[str, int]] = []

    def app_lock(self, name):
        return self.locks.setdefault(name, threading.Lock())

    def spec_of(self, name):
        return SimpleNamespace(name=name)

    def start_replicas(self, spec, deployment, count, *, user=None, progress=None, indexes=None):
        self.started.append((spec.name, count))
        app = self.cluster.apps[spec.name]
        out = []
        free = free_indexes((replica_index(c) for c in self.cluster.live if c.app == spec.name), count)
        for i in range(count):
            if self.start_ok:
                self.cluster.live.append(ctr(f"new-{spec.name}-{i}", spec.name, app.spec_hash, index=free[i]))
                out.append(Replica(i + 1, host="a", container_id=f"new-{i}", status="running"))
            else:
                out.append(Replica(i + 1, status="failed", error="no room"))
        return out


class NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


WEB = App("web", {}, count=2, deployment_id="d", spec_hash="new")


def reconciler(cluster, apps, lock=NoLock) -> Reconciler:
    return Reconciler(cluster, apps, lock, clock=lambda: NOW)


def test_dry_run_plans_and_changes_nothing():
    cluster = FakeCluster([WEB], [ctr("w1", "web", "new"), ctr("x", "ghost", "h")])
    apps = FakeApps(cluster)
    result = reconciler(cluster, apps).run(dry_run=True)
    assert [(a.kind, a.reason, a.outcome) for a in result.actions] == \
        [("create", "missing", "planned"), ("destroy", "orphan", "planned")]
    assert result.message == "plan: create 1 replica (missing), destroy 1 (1 orphan)"
    assert cluster.destroyed == [] and apps.started == [] and cluster.events == []
    assert exit_code(result) == 10


def test_apply_converges_and_records_one_event():
    cluster = FakeCluster([WEB], [ctr("w1", "web", "new"), ctr("old", "web", "old"), ctr("d", "web", "new", "exited")])
    apps = FakeApps(cluster)
    result = reconciler(cluster, apps).run(user="ops")
    assert [(a.reason, a.outcome) for a in result.actions] == [("dead", "ok"), ("missing", "ok"),
                                                                       ("orphan", "ok")]
    assert cluster.destroyed == ["d", "old"] and apps.started == [("web", 1)]
    assert result.in_sync is True and result.remaining == [] and exit_code(result) == 10
    assert result.message == ("reconcile: created 1 replica (missing), destroyed 2 (1 dead, 1 orphan); "
                                 "0 failed; now in sync")
    [event] = cluster.events
    assert event["type"] == "reconcile" and event["user"] == "ops" and event["message"] == result.message
    assert not any(lock.locked() for lock in apps.locks.values())  # every app lock given back


def test_old_replicas_stay_when_the_new_ones_do_not_start():
    cluster = FakeCluster([WEB], [ctr("old1", "web", "old"), ctr("old2", "web", "old")])
    apps = FakeApps(cluster, start_ok=False)
    result = reconciler(cluster, apps).run()
    assert [(a.reason, a.outcome) for a in result.actions] == \
        [("missing", "failed"), ("orphan", "skipped"), ("orphan", "skipped")]
    assert "replica 1: no room" in result.actions[0].error
    assert cluster.destroyed == [] and result.in_sync is False and exit_code(result) == 11
    assert result.summary["failed"] == 3


def test_a_failed_destroy_is_reported_and_the_rest_goes_on():
    cluster = FakeCluster([], [ctr("x1", "ghost", "h"), ctr("x2", "ghost", "h")], fail={"x1"})
    result = reconciler(cluster, FakeApps(cluster)).run()
    assert [(a.container, a.outcome) for a in result.actions] == [("x1", "failed"), ("x2", "ok")]
    assert "engine a: unreachable" in result.actions[0].error
    assert [a.container for a in result.remaining] == ["x1"] and exit_code(result) == 11


def test_an_app_being_deployed_is_left_alone():
    cluster = FakeCluster([WEB], [ctr("x", "first-deploy", "h")])
    apps = FakeApps(cluster)
    apps.app_lock("web").acquire()  # a deploy of web is running
    apps.app_lock("first-deploy").acquire()  # and the very first deploy of another app
    result = reconciler(cluster, apps).run()
    assert result.busy == ["first-deploy", "web"] and result.actions == [] and exit_code(result) == 0
    assert cluster.events == []


def test_a_scope_limits_the_run():
    cluster = FakeCluster([WEB], [ctr("x", "ghost", "h")])
    apps = FakeApps(cluster)
    result = reconciler(cluster, apps).run(apps=["gh*"])
    assert [(a.app, a.reason) for a in result.actions] == [("ghost", "orphan")]
    assert apps.started == []
    assert matcher(None)("anything") and matcher(["web-*", "db"])("db") and not matcher(["web-*"])("web")


def test_the_lock_is_taken_and_a_held_one_refuses(tmp_path):
    path = tmp_path / "state" / "reconcile.lock"
    cluster = FakeCluster([WEB], [])
    with FileLock(path):
        with pytest.raises(ConflictError, match="another reconcile is running"):
            reconciler(cluster, FakeApps(cluster), lambda: FileLock(path)).run()
        assert reconciler(cluster, FakeApps(cluster), lambda: FileLock(path)).run(dry_run=True).actions
    result = reconciler(cluster, FakeApps(cluster), lambda: FileLock(path)).run()
    assert result.in_sync is True
    with FileLock(path):  # given back after the run
        pass


def test_which_lock(tmp_path):
    def service(etcd, path):
        return SimpleNamespace(settings=SimpleNamespace(etcd=etcd, etcd_tls=lambda: (None, None, None)),
                               store=SimpleNamespace(path=path))

    lock = lock_for(service(["http://10.0.0.5:2379", "etcd2"], str(tmp_path / "state.db")))
    assert isinstance(lock, EtcdLock) and lock.endpoints == [("10.0.0.5", 2379), ("etcd2", 2379)]
    lock = lock_for(service([], str(tmp_path / "state.db")))
    assert isinstance(lock, FileLock) and lock.path == tmp_path / "reconcile.lock"
    assert lock_for(service([], None)).path.name == "reconcile.lock"  # RethinkDB: the user's data dir


def test_describe():
    assert describe({"missing": 2, "dead": 1, "duplicate": 0, "orphan": 3}, done=False) == \
        "create 2 replicas (missing), destroy 4 (1 dead, 3 orphan)"
    assert describe({"missing": 0, "dead": 0, "duplicate": 1, "orphan": 0}, done=True) == "destroyed 1 (1 duplicate)"


def result_of(dry_run: bool, actions: int, in_sync: bool = True) -> ReconcileResult:
    planned = [ActionOutcome(kind="create", app="a", reason="missing", count=1, outcome="planned")] * actions
    return ReconcileResult(dry_run=dry_run, changed=False, in_sync=in_sync, message="", summary={},
                           actions=planned)


@pytest.mark.parametrize("result, code", [
    (result_of(True, 0), 0),
    (result_of(True, 1, in_sync=False), 10),
    (result_of(False, 0), 0),
    (result_of(False, 1, in_sync=True), 10),
    (result_of(False, 1, in_sync=False), 11),
])
def test_exit_codes(result, code):
    assert exit_code(result) == code
