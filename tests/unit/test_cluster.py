"""Cluster wiring: one pool of engines, container operations over it, one event log (no engine needed)."""

from __future__ import annotations

import pytest

from paasops.errors import NotFoundError
from paasops.service.cluster import Cluster
from paasops.service.containers import ContainerView
from paasops.service.engine import EngineHandle
from paasops.store.records import Engine
from paasops.store.sqlite import SqliteStore


@pytest.fixture
def cluster():
    store = SqliteStore(":memory:")
    yield Cluster(store)
    store.close()


def cached(cluster: Cluster, engine_id: str, *views: ContainerView) -> EngineHandle:
    """An engine with a filled cache, as if synced (the pool's dict is the cluster's)."""
    handle = EngineHandle(Engine(engine_id, "10.0.0.1"), None)
    handle.status = "up"
    handle.containers = {v.id: v for v in views}
    cluster.engines[engine_id] = handle
    return handle


def view(id_: str, engine: str, state: str = "running", app: str | None = "web", created: float = 0) -> ContainerView:
    return ContainerView(id=id_, name=id_, engine_id=engine, image="i", state=state, created=created,
                         labels={"paasops.app": app} if app else {})


def test_the_parts_share_one_pool_and_one_log(cluster):
    assert cluster.engines is cluster.pool.engines is cluster.ops.pool.engines
    assert cluster.ops.events is cluster.pool.events is cluster.event_log
    event = cluster.record("deploy-app", app="web", message="m")
    assert [e.type for e in cluster.store.list_events()] == [event.type] == ["deploy-app"]


def test_containers_across_engines_newest_first_and_filtered(cluster):
    cached(cluster, "a", view("a1", "a", created=1), view("a2", "a", state="exited", created=3))
    cached(cluster, "b", view("b1", "b", created=2, app="db"))
    assert [c.id for c in cluster.containers()] == ["a2", "b1", "a1"]
    assert [c.id for c in cluster.containers(all_=False)] == ["b1", "a1"]
    assert [c.id for c in cluster.containers(app="web")] == ["a2", "a1"]


def test_find_returns_the_engine_holding_the_container(cluster):
    cached(cluster, "a", view("aaa111", "a"))
    b = cached(cluster, "b", view("bbb222", "b"))
    assert cluster.find("bbb") == (b, b.containers["bbb222"])
    with pytest.raises(NotFoundError):
        cluster.find("ccc")


def test_snapshot_and_info_sum_the_engines(cluster):
    web = ContainerView(id="w", name="w", engine_id="a", image="i", state="running",
                        labels={"paasops.app": "web", "paasops.cpus": "0.5", "paasops.memory-mb": "128"})
    handle = cached(cluster, "a", web)
    handle.record.cpus, handle.record.memory_mb = 4, 4096
    [host] = cluster.snapshot()
    assert (host.id, host.reserved_cpu, host.reserved_mem_mb, host.replicas, host.healthy) == \
        ("a", 0.5, 128, {"web": 1}, True)
    info = cluster.info()
    assert (info.engines, info.engines_up, info.cpus, info.reserved_cpus, info.running) == \
        (1, 1, 4.0, 0.5, 1)


def test_an_unknown_engine_is_a_404(cluster):
    with pytest.raises(NotFoundError, match="no engine 'zz'"):
        cluster.engine("zz")
    with pytest.raises(NotFoundError):
        cluster.remove_engine("zz")
