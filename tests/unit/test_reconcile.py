"""reconcile.diff: desired apps and observed containers in, the plan of actions out (table cases)."""

from __future__ import annotations

import pytest

from paasops.placement import HostSnapshot
from paasops.service.containers import ContainerView
from paasops.service.reconcile import Change, diff, is_dead
from paasops.store.records import App
from paasops.vocabulary import DEPLOY_PENDING, LABEL_DEPLOYMENT

NOW = 10_000.0
# web redeployed (spec h-new, deployment d9) and cut short: d1 (spec h-web, 2 replicas) still runs
WEB_PENDING = App("web", {"image": "hello:2"}, count=3, deployment_id="d9", spec_hash="h-new", state=DEPLOY_PENDING,
                  previous={"deployment_id": "d1", "spec_hash": "h-web", "count": 2})
NEW_PENDING = App("new", {"image": "new"}, count=3, deployment_id="d7", spec_hash="h-new", state=DEPLOY_PENDING)
WEB = App("web", {"image": "hello"}, count=2, deployment_id="d1", spec_hash="h-web")
DB = App("db", {"image": "db"}, count=1, deployment_id="d2", spec_hash="h-db")
ZERO = App("idle", {"image": "idle"}, count=0, deployment_id="d3", spec_hash="h-idle")


def host(id_: str, cpu: float = 0.0, mem: int = 0, healthy: bool = True) -> HostSnapshot:
    return HostSnapshot(id=id_, total_cpu=4, total_mem_mb=8192, reserved_cpu=cpu, reserved_mem_mb=mem,
                        healthy=healthy, status="up" if healthy else "down")


# a: load (1/4 * 65 + 1024/8192 * 35) / 100 = 0.20625
# b: load (3/4 * 65 + 6144/8192 * 35) / 100 = 0.75
HOSTS = [host("a", 1, 1024), host("b", 3, 6144)]


def ctr(id_: str, app: str | None = "web", hash_: str | None = None, *, on: str = "a", state: str = "running",
        index: int = 1, created: float = NOW - 600, deployment: str = "") -> ContainerView:
    labels = {}
    if app is not None:
        labels = {"paasops.app": app, "paasops.spec-hash": hash_ or f"h-{app}", "paasops.replica": str(index),
                  "paasops.cpus": "0.5", "paasops.memory-mb": "128"}
        if deployment:
            labels[LABEL_DEPLOYMENT] = deployment
    return ContainerView(id=id_, name=f"{app}-{index}", engine_id=on, image="img", state=state,
                         created=created, labels=labels)


def create(app: str, n: int) -> tuple:
    return ("create", app, "missing", n, "")


def destroy(reason: str, container: str) -> tuple:
    return ("destroy", reason, container)


def brief(a: Change) -> tuple:
    return (a.kind, a.app, a.reason, a.count, a.container) if a.kind == "create" else (a.kind, a.reason, a.container)


CASES = {
    "in sync": ([WEB], [ctr("w1"), ctr("w2", index=2, on="b")], []),
    "nothing desired, nothing runs": ([], [], []),
    "count 0 and nothing runs": ([ZERO], [], []),
    "all missing": ([WEB, DB], [], [create("db", 1), create("web", 2)]),
    "one missing": ([WEB], [ctr("w1")], [create("web", 1)]),
    # 4 replicas, 2 desired: indexes 3 and 4 are above 2, the highest goes first (host load plays no part)
    "replicas above the count go, highest index first": (
        [WEB], [ctr("w1", on="b"), ctr("w2", index=2, on="b"), ctr("w3", index=3), ctr("w4", index=4)],
        [destroy("duplicate", "w4"), destroy("duplicate", "w3")]),
    # indexes 1, 1, 3 of 2: the newer copy of 1 goes; 1 and 3 are two replicas (numbers need not be 1..N)
    "a duplicated index: one copy per index, N indexes": (
        [WEB], [ctr("w1"), ctr("w1b", created=NOW - 5), ctr("w3", index=3, on="b")],
        [destroy("duplicate", "w1b")]),
    # indexes 1, 1, 3, 4 of 2: the newer copy of 1 and the highest index go
    "a duplicated index and one beyond N": (
        [WEB], [ctr("w1"), ctr("w1b", created=NOW - 5), ctr("w3", index=3, on="b"), ctr("w4", index=4)],
        [destroy("duplicate", "w4"), destroy("duplicate", "w1b")]),
    # on one host the newest container goes: a copy made by hand with the same labels
    "a hand-made duplicate is the newest": (
        [WEB], [ctr("w1"), ctr("w2", index=2), ctr("copy", index=1, created=NOW - 5)],
        [destroy("duplicate", "copy")]),
    "unknown app is an orphan": ([WEB], [ctr("w1"), ctr("w2", index=2), ctr("x1", app="ghost")],
                                 [destroy("orphan", "x1")]),
    "an old spec is an orphan, replaced after the new one starts": (
        [WEB], [ctr("w1"), ctr("old", hash_="h-old", index=2)],
        [create("web", 1), destroy("orphan", "old")]),
    "exited and dead are dead": ([WEB], [ctr("w1"), ctr("w2", index=2), ctr("e", state="exited", index=3),
                                         ctr("d", app="ghost", state="dead")],
                                 [destroy("dead", "d"), destroy("dead", "e")]),
    "a stopped replica is dead and missing": ([WEB], [ctr("w1"), ctr("w2", index=2, state="exited")],
                                              [destroy("dead", "w2"), create("web", 1)]),
    "created and never started is dead after the grace": (
        [WEB], [ctr("w1"), ctr("w2", index=2), ctr("c", state="created", index=3, created=NOW - 61)],
        [destroy("dead", "c")]),
    "created just now is starting: it counts": (
        [WEB], [ctr("w1"), ctr("c", state="created", index=2, created=NOW - 5)], []),
    "containers without paasops.app are never touched": (
        [WEB], [ctr("w1"), ctr("w2", index=2), ctr("plain", app=None), ctr("plain2", app=None, state="exited")],
        []),
    "replicas on a down host are re-created, not touched": (
        [WEB], [ctr("w1"), ctr("w2", index=2, on="gone")], [create("web", 1)]),
    "restarting and paused replicas count": (
        [WEB], [ctr("w1", state="restarting"), ctr("w2", index=2, state="paused")], []),
    "the order: dead, missing, duplicate, orphan": (
        [WEB, DB], [ctr("o", app="ghost"), ctr("d1", app="db"), ctr("d2", app="db", index=2, created=NOW - 1),
                    ctr("x", state="exited", index=5)],
        [destroy("dead", "x"), create("web", 2), destroy("duplicate", "d2"), destroy("orphan", "o")]),
    # -- deployments the store knows (a deploy cut short by a crash) --
    "a pending first deploy is finished, its replicas kept": (
        [NEW_PENDING], [ctr("n1", app="new", hash_="h-new", deployment="d7"),
                        ctr("n2", app="new", hash_="h-new", index=2, deployment="d7")], [create("new", 1)]),
    "a pending redeploy keeps the previous release until it commits": (
        [WEB_PENDING], [ctr("w1", deployment="d1"), ctr("w2", index=2, deployment="d1"),
                        ctr("n1", hash_="h-new", index=3, deployment="d9")], [create("web", 2)]),
    "a replica of neither release of a pending app is an orphan": (
        [WEB_PENDING], [ctr("n1", hash_="h-new", deployment="d9"), ctr("n2", hash_="h-new", index=2, deployment="d9"),
                        ctr("n3", hash_="h-new", index=3, deployment="d9"),
                        ctr("x", hash_="h-x", index=4, deployment="d0")], [destroy("orphan", "x")]),
    "a copy with the previous release's deployment but another spec is an orphan": (
        [WEB_PENDING], [ctr("n1", hash_="h-new", deployment="d9"), ctr("n2", hash_="h-new", index=2, deployment="d9"),
                        ctr("n3", hash_="h-new", index=3, deployment="d9"),
                        ctr("x", hash_="h-x", index=4, deployment="d1")], [destroy("orphan", "x")]),
    "a copy labelled for another app is an orphan, whatever its deployment": (
        [WEB], [ctr("w1", deployment="d1"), ctr("w2", index=2, deployment="d1"),
                ctr("g", app="ghost", deployment="d1")], [destroy("orphan", "g")]),
    "once committed, the previous release is an orphan": (
        [App("web", {}, count=1, deployment_id="d9", spec_hash="h-new")],
        [ctr("w1", deployment="d1"), ctr("n1", hash_="h-new", deployment="d9")], [destroy("orphan", "w1")]),
    "a dead replica of a known deployment is still dead": (
        [WEB_PENDING], [ctr("n1", hash_="h-new", deployment="d9"), ctr("n2", hash_="h-new", index=2, deployment="d9"),
                        ctr("n3", hash_="h-new", index=3, deployment="d9"),
                        ctr("w1", deployment="d1", index=4, state="exited")], [destroy("dead", "w1")]),
}


@pytest.mark.parametrize("desired, observed, expected", CASES.values(), ids=CASES.keys())
def test_diff(desired, observed, expected):
    plan = diff(desired, observed, HOSTS + [host("gone", healthy=False)], now=NOW)
    assert [brief(a) for a in plan.actions] == expected
    assert plan.in_sync == (not expected)


def test_app_states_and_summary():
    observed = [ctr("w1"), ctr("w2", index=2, on="b"), ctr("w3", index=3, on="b"), ctr("old", hash_="h-old"),
                ctr("far", on="gone", index=4), ctr("ghost", app="ghost")]
    plan = diff([WEB, DB], observed, HOSTS + [host("gone", healthy=False)], now=NOW)
    states = {s.name: s.to_dict() for s in plan.apps}
    assert states["web"] == {"name": "web", "desired": 2, "running": 3, "stale": 1, "unreachable": 1,
                             "hosts": {"a": 1, "b": 2}, "missing": 0, "extra": 1, "in_sync": False,
                             "ready": 3, "unhealthy": 0}
    assert states["db"]["missing"] == 1 and states["db"]["running"] == 0
    assert plan.unreachable == ["far"]
    # 1 db replica to create, 1 web duplicate (from b, the most loaded), 2 orphans (old spec, ghost)
    assert plan.summary() == {"dead": 0, "missing": 1, "duplicate": 1, "orphan": 2}
    dup = next(a for a in plan.actions if a.reason == "duplicate")
    assert dup.host == "b" and dup.container == "w3" and "3 replicas of spec h-web run, 2 desired" in dup.detail
    assert plan.to_dict()["in_sync"] is False


def test_duplicates_are_chosen_by_index_whatever_the_weights():
    hosts = [host("a", 3, 1024), host("b", 1, 6144)]
    observed = [ctr("wa", on="a"), ctr("wb", on="b", index=2)]
    one = App("web", {}, count=1, deployment_id="d", spec_hash="h-web")
    for weights in ((1, 0), (0, 1)):
        (action,) = diff([one], observed, hosts, now=NOW, weights=weights).actions
        assert action.container == "wb" and "index 2 is beyond the app's 1 replicas" in action.detail


@pytest.mark.parametrize("state, age, dead", [
    ("exited", 0, True), ("dead", 0, True), ("created", 61, True), ("created", 59, False),
    ("running", 1e6, False), ("restarting", 1e6, False), ("paused", 1e6, False), ("removing", 0, False),
])
def test_is_dead(state, age, dead):
    assert is_dead(ctr("c", state=state, created=NOW - age), NOW) is dead


def test_known_deployments_are_never_orphans():
    # the store knows deployment d5 of app "ghost" (e.g. its record is being written): its replicas stay
    observed = [ctr("g1", app="ghost", deployment="d5"), ctr("g2", app="ghost", index=2, deployment="d6")]
    plan = diff([], observed, HOSTS, now=NOW, known={"d5"})
    assert [brief(a) for a in plan.actions] == [destroy("orphan", "g2")]


def test_a_pending_app_counts_its_previous_release_as_stale():
    observed = [ctr("w1", deployment="d1"), ctr("n1", hash_="h-new", index=2, deployment="d9")]
    state = diff([WEB_PENDING], observed, HOSTS, now=NOW).apps[0]
    assert (state.desired, state.running, state.stale, state.missing) == (3, 1, 1, 2)


def test_app_deployments():
    assert WEB_PENDING.deployments() == {"d9", "d1"} and WEB.deployments() == {"d1"}


def test_a_replica_of_another_release_is_outdated_by_its_label_against_the_record():
    """The record's hash is the release: an env-only redeploy (a new hash) makes the old replicas
    outdated, and a record kept under a version-1 hash keeps its own replicas in sync."""
    from dataclasses import replace

    from paasops.spec import legacy_spec_hash, parse_app_spec, spec_hash

    old = parse_app_spec({"name": "web", "image": "hello", "env": {"A": "1"}})
    new = parse_app_spec({"name": "web", "image": "hello", "env": {"A": "2"}})
    assert legacy_spec_hash(old) == legacy_spec_hash(new) and spec_hash(old) != spec_hash(new)
    redeployed = replace(WEB, spec_hash=spec_hash(new), count=1)
    plan = diff([redeployed], [ctr("w1", hash_=spec_hash(old)), ctr("w2", hash_=spec_hash(new))],
                HOSTS, now=NOW)
    assert [brief(a) for a in plan.actions] == [destroy("orphan", "w1")]
    assert plan.apps[0].stale == 1
    legacy = replace(WEB, spec_hash=legacy_spec_hash(old), count=1)
    assert diff([legacy], [ctr("w1", hash_=legacy_spec_hash(old))], HOSTS, now=NOW).in_sync


def test_ready_and_unhealthy_replicas_are_counted():
    observed = [ctr("w1"), replace_status(ctr("w2", index=2), "Up 1 minute (unhealthy)"),
                replace_status(ctr("w3", index=3), "Up 2 seconds (health: starting)")]
    state = diff([WEB], observed, HOSTS, now=NOW).apps[0]
    assert (state.running, state.ready, state.unhealthy) == (3, 1, 1)


def replace_status(c: ContainerView, status: str) -> ContainerView:
    c.status = status
    return c
