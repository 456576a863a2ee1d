"""Drain as data: the schedulable filter, evacuation placement, sorting out a host's containers, the drained flag."""

from __future__ import annotations

import pytest

from paasops.placement import HostSnapshot, Request
from paasops.placement.evacuate import Move, evacuate, with_plan
from paasops.placement.filters import first_rejection, schedulable
from paasops.placement.placer import place
from paasops.service.cluster import Cluster
from paasops.service.containers import ContainerView
from paasops.service.drain_plan import refusal, replacement_indexes, sort_out
from paasops.service.engine import EngineHandle
from paasops.spec import parse_app_spec
from paasops.store.records import App, Engine
from paasops.store.sqlite import SqliteStore


def host(id_: str, cpu: float = 4.0, mem: int = 4096, **kw) -> HostSnapshot:
    return HostSnapshot(id=id_, total_cpu=cpu, total_mem_mb=mem, **kw)


def test_a_drained_host_takes_nothing_whatever_its_health():
    assert schedulable.check(host("a"), Request("web")) is None
    assert first_rejection(host("a", schedulable=False), Request("web")) == (
        "schedulable", "drained (unschedulable until `paasops hosts undrain`)")
    plan = place([host("a", cpu=64, schedulable=False), host("b", cpu=1)], Request("web", cpus=0.5), 2)
    assert [a.host_id for a in plan.assignments] == ["b", "b"]


def test_with_plan_adds_what_the_plan_places():
    hosts = [host("a"), host("b", replicas={"web": 1})]
    req = Request("web", cpus=0.5, memory_mb=100, ports=(8080,))
    after = with_plan(hosts, req, place(hosts, req, 2))  # a port: one replica a host
    # b: 1 replica before + 1 = 2; reserved 1 * 0.5 cpu, 1 * 100 MB; port 8080 taken
    assert [(h.id, h.reserved_cpu, h.reserved_mem_mb, h.used_ports, h.replicas) for h in after] == [
        ("a", 0.5, 100, frozenset({8080}), {"web": 1}), ("b", 0.5, 100, frozenset({8080}), {"web": 2})]


def test_evacuation_leaves_the_host_out_and_each_app_sees_the_one_before():
    hosts = [host("gone", cpu=8, mem=8192), host("a", cpu=1, mem=1024), host("b", cpu=1, mem=1024)]
    moves = [Move(Request("big", memory_mb=900), 2), Move(Request("small", memory_mb=200), 1)]
    plan = evacuate(hosts, "gone", moves)
    # big takes 900 MB on a and on b: 124 MB left on each, so small (200 MB) fits nowhere
    assert not plan.complete and plan.failed is not None and plan.failed.app == "small"
    assert plan.failure_message() == ("small does not fit on the other hosts: no host can take replica 1 of small: "
                                      "a, b: memory: needs 200 MB, 124 MB free")
    assert evacuate(hosts, "gone", moves[1:]).complete
    assert evacuate(hosts, "gone", []).complete


def ctr(id_: str, app: str | None, index: int, on: str, *, state: str = "running", spec_hash: str = "h1"):
    labels = {"paasops.app": app, "paasops.replica": str(index), "paasops.spec-hash": spec_hash} if app else {}
    return ContainerView(id=id_, name=f"{app or 'x'}-{index}", engine_id=on, image="i", state=state, labels=labels)


def app(name: str, count: int = 3, state: str = "active") -> App:
    return App(name=name, spec={"name": name, "image": "i", "memory": "100m"}, count=count, deployment_id="d1",
               spec_hash="h1", state=state)


def test_sort_out_moves_current_replicas_and_removes_or_leaves_the_rest():
    containers = [
        ctr("w1", "web", 1, "lab3"), ctr("w2", "web", 2, "lab1"), ctr("w2b", "web", 2, "lab3"),
        ctr("w3", "web", 3, "lab3", spec_hash="h0"), ctr("w4", "web", 4, "lab3", state="exited"),
        ctr("o1", "orphan", 1, "lab3"), ctr("f1", None, 0, "lab3"), ctr("x1", "web", 5, "lab2")]
    work = sort_out("lab3", containers, {"web": app("web")})
    assert {k: [c.id for c in v] for k, v in work.moves.items()} == {"web": ["w1"]}
    assert [(c.id, why) for c, why in work.removals] == [
        ("w2b", "index 2 runs elsewhere already"), ("w3", "of another release (h0, not h1)"),
        ("w4", "not running (exited)")]
    assert [(x.id, x.why) for x in work.left] == [
        ("f1", "not started by paasops"), ("o1", "app 'orphan' is not deployed (reconcile removes it)")]
    assert work.apps == ["web"] and not work.done and not work.blocked


def test_two_copies_of_one_index_on_the_host_move_once():
    work = sort_out("lab3", [ctr("a", "web", 1, "lab3"), ctr("b", "web", 1, "lab3")], {"web": app("web")})
    assert [c.id for c in work.moves["web"]] == ["a"] and [c.id for c, _ in work.removals] == ["b"]


def test_a_pending_deployment_blocks_the_drain_before_anything():
    work = sort_out("lab3", [ctr("w1", "web", 1, "lab3")], {"web": app("web", state="pending")})
    assert not work.moves and "web has a pending deployment d1" in work.blocked["web"]
    assert refusal("lab3", [host("lab3"), host("lab1")], work, {}).startswith("cannot drain lab3: web has a pending")


def test_an_empty_host_is_done():
    assert sort_out("lab3", [ctr("w1", "web", 1, "lab1")], {"web": app("web")}).done


def test_refusal_names_the_app_that_does_not_fit():
    spec = parse_app_spec({"name": "web", "image": "i", "memory": "3000m"})
    work = sort_out("lab3", [ctr("w1", "web", 1, "lab3"), ctr("w2", "web", 2, "lab3")], {"web": app("web")})
    hosts = [host("lab3", mem=8192, reserved_mem_mb=6000), host("lab1", mem=4096), host("lab2", mem=2048)]
    why = refusal("lab3", hosts, work, {"web": spec})
    assert why is not None and why.startswith("cannot drain lab3: web does not fit on the other hosts: "
                                              "no host can take replica 2 of web (1 of 2 placed): ")
    assert "lab2: memory: needs 3000 MB, 2048 MB free" in why
    assert refusal("lab3", [*hosts, host("lab4", mem=4096)], work, {"web": spec}) is None


def test_replacement_indexes_keep_each_replicas_own_number():
    moving = [ctr("a", "web", 3, "h"), ctr("b", "web", 0, "h"), ctr("c", "web", 1, "h")]
    assert replacement_indexes(moving, [1, 2, 3, 4]) == [3, 5, 1]


@pytest.fixture
def cluster(monkeypatch):
    monkeypatch.setattr(EngineHandle, "sync", lambda self: None)  # no engine behind these records
    store = SqliteStore(":memory:")
    yield Cluster(store)
    store.close()


def test_the_drained_flag_is_stored_shown_placed_around_and_kept_over_a_registration(cluster):
    cluster.upsert_engine(Engine("lab3", "10.0.0.3", source="etcd"))
    assert cluster.pool.set_unschedulable("lab3", True) and not cluster.pool.set_unschedulable("lab3", True)
    assert cluster.store.get_engine("lab3").unschedulable
    assert cluster.engine("lab3").view().unschedulable
    assert [(h.healthy, h.schedulable) for h in cluster.snapshot()] == [(True, False)]
    cluster.upsert_engine(Engine("lab3", "10.0.0.3", source="etcd", meta={"etcd_revision": 7}))  # its agent again
    assert cluster.store.get_engine("lab3").unschedulable and not cluster.snapshot()[0].schedulable
    assert cluster.pool.set_unschedulable("lab3", False) and not cluster.store.get_engine("lab3").unschedulable
    assert cluster.snapshot()[0].schedulable


def handle(cluster: Cluster, engine_id: str, mem: int, *views: ContainerView) -> EngineHandle:
    """An engine up with a filled cache, as if synced (no engine behind it)."""
    h = EngineHandle(Engine(engine_id, "10.0.0.1", cpus=8, memory_mb=mem), None)
    h.status = "up"
    h.containers = {v.id: v for v in views}
    cluster.engines[engine_id] = h
    return h


def big(id_: str, index: int, on: str) -> ContainerView:
    labels = {"paasops.app": "big", "paasops.replica": str(index), "paasops.spec-hash": "h1",
              "paasops.memory-mb": "3000"}
    return ContainerView(id=id_, name=f"big-{index}", engine_id=on, image="i", state="running", labels=labels)


def test_a_refused_drain_changes_nothing_and_an_empty_host_drains_at_once(cluster):
    from paasops.errors import NotFoundError, PlacementError
    from paasops.service.apps import AppManager
    from paasops.service.drain import HostDrain
    from paasops.service.images import ImageDistributor

    handle(cluster, "lab3", 8192, big("b1", 1, "lab3"), big("b2", 2, "lab3"))
    handle(cluster, "lab1", 4096)
    cluster.store.put_app(App(name="big", spec={"name": "big", "image": "i", "memory": "3000m"}, count=2,
                              deployment_id="d1", spec_hash="h1"))
    drain = HostDrain(AppManager(cluster, ImageDistributor()))
    with pytest.raises(PlacementError, match=r"cannot drain lab3: big does not fit on the other hosts: no host "
                                             r"can take replica 2 of big \(1 of 2 placed\): lab1: memory"):
        drain.drain("lab3")
    assert not cluster.engine("lab3").record.unschedulable and not cluster.store.list_events(type="drain-host")
    with pytest.raises(NotFoundError, match="no engine 'nosuch'"):
        drain.drain("nosuch")
    result = drain.drain("lab1", user="root")
    assert (result.ok, result.empty, result.message, result.already) == (True, True, "lab1 is empty (0 replicas moved)",
                                                                          False)
    assert cluster.store.get_engine("lab1").unschedulable and drain.drain("lab1").already
    assert [e.type for e in cluster.store.list_events(host="lab1")][:2] == ["drain-host", "drain-host"]
    assert not drain.undrain("lab3").changed
    assert drain.undrain("lab1", user="root").changed and not cluster.engine("lab1").record.unschedulable
    assert cluster.store.list_events(type="undrain-host")[0].message == "lab1 undrained by root: it takes placements again"


def test_a_drain_cut_before_its_end_is_marked_draining_and_resumed_at_start(cluster):
    from paasops.service.apps import AppManager
    from paasops.service.drain import resume_drains
    from paasops.service.images import ImageDistributor

    cluster.upsert_engine(Engine("lab3", "10.0.0.3", source="etcd"))
    cluster.pool.set_unschedulable("lab3", True)
    assert cluster.pool.set_draining("lab3", True)  # what a drain cut by a crash leaves in the store
    cluster.upsert_engine(Engine("lab3", "10.0.0.3", source="etcd", meta={"etcd_revision": 8}))  # its agent again
    assert cluster.store.get_engine("lab3").draining and cluster.engine("lab3").record.draining
    handle(cluster, "lab1", 4096)
    cluster.pool.set_draining("lab1", True)  # marked, but undrained since: not drained again, its mark cleared
    apps = AppManager(cluster, ImageDistributor())
    (result,) = resume_drains(apps, wait=0)
    assert (result.host, result.ok, result.empty) == ("lab3", True, True)
    assert not cluster.store.get_engine("lab3").draining and cluster.store.get_engine("lab3").unschedulable
    assert not cluster.store.get_engine("lab1").draining and not cluster.engine("lab1").record.unschedulable
    assert "resuming" in cluster.store.list_events(type="drain-host", host="lab3")[-1].message
    assert resume_drains(apps, wait=0) == []  # done: nothing marked any more
