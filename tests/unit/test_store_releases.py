"""The release history in the state store, against every backend (SQLite always, RethinkDB under its
marker), and the history the service writes at each outcome of a deploy."""

from __future__ import annotations

import sqlite3
import time
from types import SimpleNamespace

import pytest
from test_store_contract import opener  # noqa: F401 - the fixture: each backend, a fresh store

from paasops.service.history import ReleaseHistory
from paasops.store import App, Release, open_store
from paasops.vocabulary import DEPLOY_PENDING

SEALED = "aesgcm1:c2VhbGVk"


def release(deployment: str, started_at: float, app: str = "web", **more) -> Release:
    return Release(app=app, deployment_id=deployment, spec_hash="h-" + deployment,
                   spec={"name": app, "image": "nginx:1", "env": {"MODE": "x"}}, count=2, started_at=started_at,
                   **more)


@pytest.fixture
def store(opener):  # noqa: F811 - the fixture imported above
    return opener()


def test_releases_round_trip_newest_first(store):
    for n, at in (("a1", 100.0), ("a3", 300.0), ("a2", 200.0)):
        store.put_release(release(n, at, secrets={"DB": SEALED}, data={"rollback_to": "x"} if n == "a3" else {}))
    store.put_release(release("b1", 150.0, app="other"))
    assert [r.deployment_id for r in store.list_releases("web")] == ["a3", "a2", "a1"]
    assert [r.deployment_id for r in store.list_releases("web", limit=2)] == ["a3", "a2"]
    got = store.get_release("web", "a3")
    assert got == release("a3", 300.0, secrets={"DB": SEALED}, data={"rollback_to": "x"})
    assert store.get_release("web", "b1") is None and store.get_release("nope", "a1") is None
    got.outcome, got.finished_at = "active", 301.5
    store.put_release(got)  # replaced by (app, deployment_id), not added
    assert [(r.deployment_id, r.outcome) for r in store.list_releases("web")][0] == ("a3", "active")
    assert len(store.list_releases("web")) == 3


def test_trim_and_delete_keep_to_one_app(store):
    for n in range(5):
        store.put_release(release(f"a{n}", 100.0 + n))
    store.put_release(release("b1", 1.0, app="other"))
    assert store.trim_releases("web", 2) == 3
    assert [r.deployment_id for r in store.list_releases("web")] == ["a4", "a3"]
    assert store.trim_releases("web", 2) == 0
    assert store.delete_releases("web") == 2 and store.list_releases("web") == []
    assert [r.deployment_id for r in store.list_releases("other")] == ["b1"]


def test_a_release_secret_is_stored_sealed_only(store):
    with pytest.raises(ValueError, match=r"sealed, never their values \(web: DB\)"):
        store.put_release(release("a1", 1.0, secrets={"DB": "hunter2"}))
    assert store.list_releases("web") == []


def test_an_older_sqlite_file_gains_the_releases_table(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # a state file from before the history: no releases table
        db.execute("CREATE TABLE apps (name TEXT PRIMARY KEY, doc TEXT NOT NULL)")
    with open_store(f"sqlite://{path}") as store:
        store.put_release(release("a1", 1.0))
        assert [r.deployment_id for r in store.list_releases("web")] == ["a1"]


@pytest.mark.rethinkdb
def test_an_older_rethinkdb_database_gains_the_releases_table(empty_rethinkdb_state):
    from rethinkdb import RethinkDB

    from paasops.store import rethinkdb_options

    opts = rethinkdb_options(empty_rethinkdb_state)
    r = RethinkDB()
    with r.connect(host=opts["host"], port=opts["port"]) as conn:  # as a database made before the history
        r.db(opts["db"]).table_drop("releases").run(conn)
    try:
        with open_store(empty_rethinkdb_state) as store:
            store.put_release(release("a1", 1.0))
            assert [r.deployment_id for r in store.list_releases("web")] == ["a1"]
    finally:
        open_store(empty_rethinkdb_state).close()  # the table is back for the next tests either way


# -- the history the service writes ---------------------------------------------------------------


def app(deployment: str, previous: App | None = None, **more) -> App:
    prev = None if previous is None else {
        "deployment_id": previous.deployment_id, "spec_hash": previous.spec_hash, "count": previous.count,
        "spec": previous.spec, "secrets": dict(previous.secrets)}
    return App(name="web", spec={"name": "web", "image": f"nginx:{deployment}"}, count=3, deployment_id=deployment,
               spec_hash="h-" + deployment, state=DEPLOY_PENDING, previous=prev, **more)


@pytest.fixture
def history(store) -> ReleaseHistory:
    return ReleaseHistory(SimpleNamespace(store=store), keep=3)


def outcomes(history: ReleaseHistory) -> list[tuple[str, str]]:
    return [(r.deployment_id, r.outcome) for r in history.releases("web")]


def test_each_outcome_of_a_deploy_is_recorded(history):
    v1 = app("v1", secrets={"DB": SEALED})
    history.started(v1, user="alice")
    assert outcomes(history) == [("v1", "pending")]
    row = history.releases("web")[0]
    assert (row.user, row.count, row.spec["image"], row.secrets, row.finished_at) == \
        ("alice", 3, "nginx:v1", {"DB": SEALED}, None)
    assert row.started_at == pytest.approx(time.time(), abs=5)
    history.committed(v1)
    time.sleep(0.01)
    v2 = app("v2", previous=v1)
    history.started(v2, user="bob")
    assert outcomes(history) == [("v2", "pending"), ("v1", "active")]
    history.committed(v2)
    assert outcomes(history) == [("v2", "active"), ("v1", "superseded")]
    time.sleep(0.01)
    v3 = app("v3", previous=v2)
    history.started(v3)
    history.rolled_back(v3, "no host fits")
    assert outcomes(history) == [("v3", "rolled-back"), ("v2", "active"), ("v1", "superseded")]
    assert history.releases("web")[0].data == {"why": "no host fits"}
    time.sleep(0.01)
    v4 = app("v4", previous=v2)
    history.started(v4)
    history.committed(v4, ok=False)  # replicas that did not start: failed, and v2 is not superseded
    assert outcomes(history) == [("v4", "failed"), ("v3", "rolled-back"), ("v2", "active")]  # kept: 3


def test_a_pending_record_rolled_back_is_found_in_the_store(history, store):
    v1 = app("v1")
    store.put_app(v1)
    history.started(v1)
    history.pending_rolled_back("web")
    assert outcomes(history) == [("v1", "rolled-back")]
    history.pending_rolled_back("nothing")  # no record: nothing to say


def test_a_new_app_starts_a_new_history_and_a_release_from_before_is_recorded(history, store):
    store.put_release(release("gone", 1.0))  # an app of this name, deleted since
    history.started(app("v1"))
    assert outcomes(history) == [("v1", "pending")]
    legacy = App(name="web", spec={"name": "web", "image": "nginx:old"}, count=1, deployment_id="old",
                 spec_hash="h-old", secrets={"DB": SEALED})
    store.delete_releases("web")
    history.started(app("v2", previous=legacy))  # the first deploy since the history is kept
    assert outcomes(history) == [("v2", "pending"), ("old", "active")]
    assert history.releases("web")[1].secrets == {"DB": SEALED}


def test_a_note_goes_to_the_next_release_only(history):
    with history.note("web", {"rollback_to": "v1"}):
        history.started(app("v2"))
    history.started(app("v3", previous=app("v2")))
    assert [r.data for r in history.releases("web")] == [{}, {"rollback_to": "v1"}]


def test_a_store_failure_never_fails_the_deploy(caplog):
    class Broken:
        def __getattr__(self, name):
            raise RuntimeError("disk full")

    history = ReleaseHistory(SimpleNamespace(store=Broken()))
    history.started(app("v1"))
    history.committed(app("v1"))
    history.pending_rolled_back("web")
    assert "could not record v1" in caplog.text and "disk full" in caplog.text


@pytest.mark.parametrize(("record", "ok", "expected"), [
    ("active", True, "active"), ("active", False, "failed"), ("pending", False, "paused"),
    ("previous", False, "rolled-back"), ("gone", False, "rolled-back")])
def test_how_a_deploy_ended_is_read_from_the_record_it_left(history, store, record, ok, expected):
    from paasops.results import DeployResult, ReplicaResult

    v1 = app("v1")
    history.started(v1)
    history.committed(v1)
    v2 = app("v2", previous=v1)
    history.started(v2)
    left = {"active": App(**{**vars(v2), "state": "active", "previous": None}), "pending": v2,
            "previous": App(**{**vars(v1), "state": "active"}), "gone": None}[record]
    if left is not None:
        store.put_app(left)
    failed = [] if ok else [ReplicaResult(index=2, status="failed", error="unhealthy: exit 1")]
    history.ended(v2, DeployResult(app="web", deployment="v2", spec_hash="h-v2", count=3, ok=ok, replicas=failed))
    v1_after = "superseded" if expected == "active" else "active"
    assert outcomes(history) == [("v2", expected), ("v1", v1_after)]
    assert history.releases("web")[0].data == ({} if ok else {"why": "replica 2: unhealthy: exit 1"})
