"""StoppedMarks: a `stop` mark is stored (a restarted service keeps the replica stopped); the mark a restart or a
destroy holds for its own span is in memory only, so a service killed mid-way stores nothing that would keep a
dead replica unreplaced; an operation on a stopped replica clears its stored mark. Over an in-memory SQLite store."""

from __future__ import annotations

from paasops.service.container_ops import StoppedMarks
from paasops.store.sqlite import SqliteStore


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
