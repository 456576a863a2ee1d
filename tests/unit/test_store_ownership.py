"""Owners, teams and sealed secrets in the state store (both backends), and older SQLite files migrated."""

from __future__ import annotations

import json
import sqlite3

import pytest
from argon2 import PasswordHasher

from paasops.errors import NotFoundError
from paasops.store import App, Store, open_store
from paasops.store.records import SEALED_PREFIX
from paasops.store.sqlite import SqliteStore

PW_HASH = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash("correct horse battery staple")
SEALED = SEALED_PREFIX + "bm9uY2UxMjM0NTZjaXBoZXJ0ZXh0"


@pytest.fixture(params=["sqlite", pytest.param("rethinkdb", marks=pytest.mark.rethinkdb)])
def store(request, tmp_path):
    url = f"sqlite://{tmp_path / 'state.db'}" if request.param == "sqlite" else \
        request.getfixturevalue("empty_rethinkdb_state")
    s = open_store(url)
    yield s
    s.close()


def test_an_account_has_a_team(store: Store):
    assert store.create_account("alice", PW_HASH, "user", "red").team == "red"
    assert store.create_account("bob", PW_HASH, "user").team is None
    assert store.get_account("alice").team == "red"
    assert store.set_team("bob", "red").team == "red" and store.get_account("bob").team == "red"
    assert store.set_team("alice", None).team is None
    assert [(a.name, a.team) for a in store.list_accounts()] == [("alice", None), ("bob", "red")]
    with pytest.raises(NotFoundError):
        store.set_team("nobody", "red")


def test_an_app_keeps_its_owner_team_and_sealed_secrets(store: Store):
    store.put_app(App("web", {"name": "web", "image": "hello"}, 2, "d1", "h1", owner="alice", team="red",
                      secrets={"DB_PASSWORD": SEALED}))
    app = store.get_app("web")
    assert (app.owner, app.team, app.secrets) == ("alice", "red", {"DB_PASSWORD": SEALED})
    store.put_app(App("old", {"name": "old", "image": "hello"}, 1, "d2", "h2"))
    old = store.get_app("old")
    assert (old.owner, old.team, old.secrets) == (None, None, {})
    assert store.delete_app("web") and store.get_app("web") is None  # its secrets go with it


def test_the_store_refuses_a_secret_that_is_not_sealed(store: Store):
    with pytest.raises(ValueError, match="sealed"):
        store.put_app(App("web", {"name": "web", "image": "hello"}, 1, "d1", owner="alice",
                          secrets={"DB_PASSWORD": "hunter2"}))
    assert store.get_app("web") is None


def test_an_older_sqlite_state_file_is_migrated(tmp_path):
    """A state file from before ownership: accounts without a team column, apps without owners."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE accounts (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL,
                               created_at REAL NOT NULL, updated_at REAL NOT NULL);
        CREATE TABLE apps (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
    """)
    db.execute("INSERT INTO accounts VALUES (?,?,?,?,?)", ("admin", PW_HASH, "admin", 1.0, 1.0))
    doc = {"name": "web", "spec": {"name": "web", "image": "hello"}, "count": 2, "deployment_id": "d1",
           "spec_hash": "h1", "state": "active", "previous": None, "created_at": 1.0, "updated_at": 1.0}
    db.execute("INSERT INTO apps VALUES (?,?)", ("web", json.dumps(doc)))
    db.commit()
    db.close()
    with SqliteStore(path) as store:
        assert store.get_account("admin").team is None
        app = store.get_app("web")
        assert (app.owner, app.team, app.secrets, app.count) == (None, None, {}, 2)  # admins' only
        store.create_account("alice", PW_HASH, "user", "red")
        assert store.set_team("admin", "ops").team == "ops"
    with SqliteStore(path) as again:  # opening a migrated file again changes nothing
        assert [(a.name, a.team) for a in again.list_accounts()] == [("admin", "ops"), ("alice", "red")]
