"""A lapsed registration makes a host suspect, never removes it; it comes back to its health (no engine needed)."""

from __future__ import annotations

import json

import pytest

from paasops.service.cluster import Cluster
from paasops.service.engine import EngineHandle
from paasops.service.health import shown_status
from paasops.service.registration import parse_engine
from paasops.store.records import Engine
from paasops.store.sqlite import SqliteStore
from paasops.vocabulary import DEGRADED, DOWN, SUSPECT, UNKNOWN, UP


@pytest.mark.parametrize(("health", "lapsed", "shown"), [
    (UP, False, UP), (UP, True, SUSPECT), (DEGRADED, True, SUSPECT), (UNKNOWN, True, SUSPECT),
    (DOWN, True, DOWN),  # down says more than suspect: it does not answer at all
    (DEGRADED, False, DEGRADED),
])
def test_shown_status(health, lapsed, shown):
    assert shown_status(health, lapsed) == shown


@pytest.fixture
def cluster():
    store = SqliteStore(":memory:")
    cluster = Cluster(store)
    handle = EngineHandle(Engine("h1", "10.0.0.1", source="etcd"), None)
    handle.status = UP
    cluster.engines["h1"] = handle
    handle.sync = lambda: None  # type: ignore[method-assign]  # no engine behind it
    yield cluster
    store.close()


def test_lapsed_host_is_kept_suspect_unplaceable_and_returns_to_its_health(cluster):
    pool, handle = cluster.pool, cluster.engines["h1"]
    pool.set_lapsed("h1", True, "registration gone from etcd")
    assert "h1" in cluster.engines and handle.status == SUSPECT and not handle.placeable
    assert [h.status for h in cluster.snapshot()] == [SUSPECT]
    pool.set_status("h1", DEGRADED)  # the heartbeat's word changes what it returns to, not what it shows
    assert handle.status == SUSPECT
    pool.set_status("h1", DOWN)
    assert handle.status == DOWN
    pool.set_status("h1", UP)
    assert handle.status == SUSPECT  # answers again, but not registered yet
    pool.set_lapsed("h1", False, "registration back in etcd")
    assert handle.status == UP and handle.placeable
    kinds = [e.type for e in cluster.store.list_events()]
    assert kinds == ["host-up", "host-suspect", "host-down", "host-suspect"]  # newest first


def test_removed_engine_forgets_its_lapse(cluster):
    cluster.pool.set_lapsed("h1", True)
    cluster.remove_engine("h1")
    assert "h1" not in cluster.pool.lapsed and "h1" not in cluster.pool.health


def _value(**more) -> str:
    return json.dumps({"id": "h1", "address": "10.0.0.1", "cpus": 2, "memory_mb": 1024, **more})


def test_a_leaving_registration_is_marked_and_a_bad_marker_refused():
    assert parse_engine("h1", _value(leaving=True)).meta["leaving"] is True
    assert "leaving" not in parse_engine("h1", _value()).meta
    assert "leaving" not in parse_engine("h1", _value(leaving=False)).meta
    with pytest.raises(ValueError, match="leaving: expected true or false"):
        parse_engine("h1", _value(leaving="yes"))


def test_registering_again_ends_the_lapse(cluster):
    cluster.pool.set_lapsed("h1", True)
    cluster.upsert_engine(Engine("h1", "10.0.0.1", source="etcd"))  # same address: the same handle
    assert cluster.engines["h1"].status == UP and "h1" not in cluster.pool.lapsed
