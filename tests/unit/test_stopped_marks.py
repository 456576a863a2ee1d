"""`paasops stop` marks outlive the service: a new service on the same store leaves the replica stopped. The
mark a restart or a destroy holds for its own span is in memory only, so a service killed mid-way stores nothing
that would keep a dead replica unreplaced; an operation on a stopped replica clears its stored mark."""

from __future__ import annotations

from paasops.service.cluster import Cluster
from paasops.service.container_ops import StoppedMarks
from paasops.store.sqlite import SqliteStore


def test_a_stop_mark_is_seen_by_a_restarted_service_until_cleared(tmp_path):
    url = str(tmp_path / "state.db")
    with SqliteStore(url) as store:
        ops = Cluster(store).ops
        ops.stopped.add("abc123")
        ops.stopped.add("def456")
        ops.stopped.discard("def456")  # a start, restart or destroy of it
        ops.stopped.discard("never-marked")  # nothing to clear: no write
    with SqliteStore(url) as store:  # the service started again
        again = Cluster(store).ops
        assert "abc123" in again.stopped and "def456" not in again.stopped
        assert frozenset(again.stopped) == {"abc123"}  # what reconcile's timeline is given
        again.stopped.discard("abc123")
    with SqliteStore(url) as store:
        assert set(Cluster(store).ops.stopped) == set()


def test_a_store_that_fails_keeps_the_mark_in_memory(tmp_path):
    store = SqliteStore(str(tmp_path / "state.db"))
    ops = Cluster(store).ops
    store.close()  # every write now fails
    ops.stopped.add("abc123")
    assert "abc123" in ops.stopped


def test_a_stop_is_stored_and_an_operations_span_is_not():
    with SqliteStore(":memory:") as store:
        marks = StoppedMarks(store)
        marks.add("destroying", persist=False)
        assert "destroying" in marks and list(store.list_stopped()) == []
        assert list(StoppedMarks(store)) == []  # a service started now would not see it
        marks.discard("destroying")
        assert "destroying" not in marks and list(store.list_stopped()) == []

        marks.add("stopped")
        assert list(store.list_stopped()) == ["stopped"] and list(StoppedMarks(store)) == ["stopped"]
        marks.add("stopped", persist=False)  # a restart of the stopped replica: its stored mark stays until done
        assert list(store.list_stopped()) == ["stopped"]
        marks.discard("stopped")  # restarted: running on purpose again
        assert "stopped" not in marks and list(store.list_stopped()) == []
