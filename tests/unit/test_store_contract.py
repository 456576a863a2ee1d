"""The state store contract, run against every backend: SQLite always, RethinkDB on the run's
throwaway server (or the server PAASOPS_RETHINKDB_URL names); without a server binary the
RethinkDB cases skip, saying why (and fail the run in CI)."""

from __future__ import annotations

import hashlib
import inspect
import os
import secrets
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from argon2 import PasswordHasher

from paasops.errors import (
    ConflictError,
    ConnectionFailed,
    NotFoundError,
    StoreUnavailable,
    UserInputError,
)
from paasops.store import App, Engine, Event, Store, open_store, rethinkdb_options
from paasops.store.records import ApiToken
from paasops.store.sqlite import SqliteStore
from paasops.vocabulary import DEPLOY_ACTIVE, DEPLOY_PENDING

BACKENDS = ["sqlite", pytest.param("rethinkdb", marks=pytest.mark.rethinkdb)]

HASHER = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
PASSWORD = "correct horse battery staple"
PW_HASH = HASHER.hash(PASSWORD)
TOKEN = secrets.token_urlsafe(32)
TOKEN_HASH = hashlib.sha256(TOKEN.encode()).hexdigest()


def token_hash(n: int) -> str:
    return hashlib.sha256(f"token-{n}".encode()).hexdigest()


@pytest.fixture(params=BACKENDS)
def opener(request, tmp_path):
    """A function that opens (another connection to) the same fresh store."""
    opened: list[Store] = []
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("empty_rethinkdb_state")

    def open_():
        s = open_store(url)
        opened.append(s)
        return s

    yield open_
    for s in opened:
        s.close()


@pytest.fixture
def store(opener) -> Store:
    return opener()


# -- accounts -------------------------------------------------------------------------


def test_accounts(store):
    a = store.create_account("alice", PW_HASH, "admin")
    assert (a.name, a.password_hash, a.role) == ("alice", PW_HASH, "admin") and a.created_at > 0
    store.create_account("bob", PW_HASH, "user")
    assert store.get_account("alice") == a
    assert store.get_account("nobody") is None
    assert [x.name for x in store.list_accounts()] == ["alice", "bob"]
    with pytest.raises(ConflictError, match="'alice' already exists"):
        store.create_account("alice", PW_HASH, "user")


def test_update_password_and_role(store):
    store.create_account("alice", PW_HASH, "user")
    new_hash = HASHER.hash("another one")
    assert store.update_password("alice", new_hash).password_hash == new_hash
    assert store.get_account("alice").password_hash == new_hash
    assert store.set_role("alice", "admin").role == "admin"
    assert store.get_account("alice").updated_at >= store.get_account("alice").created_at
    with pytest.raises(NotFoundError):
        store.update_password("nobody", new_hash)
    with pytest.raises(NotFoundError):
        store.set_role("nobody", "admin")


def test_delete_account_revokes_its_tokens(store):
    store.create_account("alice", PW_HASH, "user")
    store.put_token("alice", TOKEN_HASH, time.time() + 60)
    store.put_token("bob", token_hash(1), time.time() + 60)
    assert store.delete_account("alice") is True
    assert store.delete_account("alice") is False
    assert store.get_account("alice") is None
    assert store.find_token(TOKEN_HASH) is None
    assert store.find_token(token_hash(1)) is not None


# -- roles ----------------------------------------------------------------------------


def test_roles(store):
    store.put_role("user", ["/api/containers", "/api/events"])
    store.put_role("admin", ["/"])
    assert store.get_role("user").paths == ["/api/containers", "/api/events"]
    store.put_role("user", ["/api/cluster"])  # replaces
    assert store.get_role("user").paths == ["/api/cluster"]
    assert [r.name for r in store.list_roles()] == ["admin", "user"]
    assert store.get_role("nobody") is None
    assert store.delete_role("user") is True and store.delete_role("user") is False
    assert [r.name for r in store.list_roles()] == ["admin"]


# -- tokens ---------------------------------------------------------------------------


def test_tokens_find_and_expire(store):
    t0 = time.time()
    tok = store.put_token("alice", TOKEN_HASH, t0 + 60)
    assert (tok.user, tok.token_hash, tok.expires_at) == ("alice", TOKEN_HASH, t0 + 60)
    assert store.find_token(TOKEN_HASH) == tok
    assert store.find_token(TOKEN_HASH, now=t0 + 61) is None
    assert store.find_token(token_hash(99)) is None
    store.put_token("alice", token_hash(2), t0 - 1)
    assert store.find_token(token_hash(2)) is None  # already expired


def test_list_and_revoke_tokens(store):
    t = time.time() + 60
    for n, user in enumerate(["alice", "alice", "bob", "carol"]):
        store.put_token(user, token_hash(n), t)
    assert [x.token_hash for x in store.list_tokens("alice")] == [token_hash(0), token_hash(1)]
    assert len(store.list_tokens()) == 4
    assert store.revoke_tokens(token_hash=token_hash(0)) == 1
    assert store.revoke_tokens(token_hash=token_hash(0)) == 0
    assert store.revoke_tokens(user="carol", token_hash=token_hash(2)) == 0  # not carol's
    assert store.revoke_tokens(user="bob", token_hash=token_hash(2)) == 1
    store.put_token("alice", token_hash(5), t)
    assert store.revoke_tokens(user="alice") == 2
    assert [x.user for x in store.list_tokens()] == ["carol"]
    with pytest.raises(ValueError):
        store.revoke_tokens()


def test_purge_expired(store):
    t0 = time.time()
    store.put_token("a", token_hash(1), t0 - 10)
    store.put_token("a", token_hash(2), t0 + 10)
    store.put_token("a", token_hash(3), t0 + 20)
    assert store.purge_expired(now=t0) == 1
    assert store.purge_expired(now=t0 + 10) == 1  # expiring at `now` counts as expired
    assert [x.token_hash for x in store.list_tokens()] == [token_hash(3)]
    assert store.purge_expired() == 0


def test_api_tokens(store):
    t0 = time.time()
    job = store.put_api_token(ApiToken("reconcile-cron", TOKEN_HASH, "alice", "user", ["POST /api/reconcile"],
                                       t0 + 60))
    assert job.created_at > 0 and job.routes == ["POST /api/reconcile"]
    store.put_api_token(ApiToken("forever", token_hash(1), "bob", "admin"))  # no expiry
    store.put_api_token(ApiToken("old", token_hash(2), "alice", "user", expires_at=t0 - 1))
    with pytest.raises(ConflictError):
        store.put_api_token(ApiToken("forever", token_hash(3), "alice", "user"))
    with pytest.raises(ValueError, match="never a token"):
        store.put_api_token(ApiToken("clear", TOKEN, "alice", "user"))
    assert store.find_api_token(TOKEN_HASH) == job
    assert store.find_api_token(TOKEN_HASH, now=t0 + 61) is None
    assert store.find_api_token(token_hash(2)) is None  # expired
    assert store.find_api_token(token_hash(1), now=t0 + 10**9).name == "forever"
    assert store.find_api_token(token_hash(99)) is None
    assert [t.name for t in store.list_api_tokens()] == ["forever", "old", "reconcile-cron"]
    assert [t.name for t in store.list_api_tokens("alice")] == ["old", "reconcile-cron"]
    assert store.delete_api_token("old") and not store.delete_api_token("old")
    assert store.find_token(TOKEN_HASH) is None  # a session lookup never finds an API token
    assert [t.name for t in store.list_api_tokens()] == ["forever", "reconcile-cron"]


# -- secrets never in clear -----------------------------------------------------------


def test_interface_takes_hashes_only():
    for method, secret in [("create_account", "password_hash"), ("update_password", "password_hash"),
                           ("put_token", "token_hash"), ("find_token", "token_hash"),
                           ("find_api_token", "token_hash")]:
        params = inspect.signature(getattr(Store, method)).parameters
        assert secret in params and "password" not in params and "token" not in params


def test_clear_secrets_are_refused(store):
    with pytest.raises(ValueError, match="never a password"):
        store.create_account("alice", PASSWORD, "admin")
    with pytest.raises(ValueError, match="never a password"):
        store.create_account("alice", hashlib.sha1(PASSWORD.encode()).hexdigest(), "admin")  # not a password hash
    store.create_account("alice", PW_HASH, "admin")
    with pytest.raises(ValueError, match="never a password"):
        store.update_password("alice", PASSWORD)
    with pytest.raises(ValueError, match="never a token"):
        store.put_token("alice", TOKEN, time.time() + 60)
    assert store.get_account("alice").password_hash == PW_HASH
    assert store.list_tokens() == []


def test_nothing_secret_is_stored_in_clear(opener, tmp_path):
    store = opener()
    store.create_account("alice", PW_HASH, "admin")
    store.put_token("alice", TOKEN_HASH, time.time() + 60)
    dumped = repr(store.list_accounts()) + repr(store.list_tokens())
    assert PASSWORD not in dumped and TOKEN not in dumped
    if isinstance(store, SqliteStore):
        raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("state.db"))
        assert PASSWORD.encode() not in raw and TOKEN.encode() not in raw
        assert TOKEN_HASH.encode() in raw  # proof we looked at the right bytes
        assert stat.S_IMODE(os.stat(tmp_path / "state.db").st_mode) == 0o600


# -- engines --------------------------------------------------------------------------


def engine(id_: str, **kw) -> Engine:
    return Engine(id=id_, address=f"10.0.0.{len(id_)}", docker_url=f"tcp://{id_}:2376", cpus=4, memory_mb=8192, **kw)


def test_engines(store):
    e = store.put_engine(engine("host2", labels={"zone": "a"}, meta={"os": "debian"}, source="etcd"))
    store.put_engine(engine("host1"))
    assert e.created_at > 0 and e.updated_at >= e.created_at
    got = store.get_engine("host2")
    assert got == e and got.labels == {"zone": "a"} and got.meta == {"os": "debian"} and got.source == "etcd"
    assert store.get_engine("nope") is None
    assert [x.id for x in store.list_engines()] == ["host1", "host2"]
    time.sleep(0.01)
    updated = store.put_engine(engine("host2", status="down"))
    assert updated.status == "down" and updated.labels == {}
    assert updated.created_at == e.created_at and updated.updated_at > e.updated_at
    assert store.delete_engine("host2") is True and store.delete_engine("host2") is False
    assert [x.id for x in store.list_engines()] == ["host1"]


# -- apps -----------------------------------------------------------------------------


def test_apps(store):
    spec = {"name": "web", "image": "paasops/hello:latest", "ports": [{"host": 0, "container": 8080}], "cpus": 0.5}
    a = store.put_app(App("web", spec, 8, "dep1", "abc123abc123"))
    store.put_app(App("api", {"name": "api", "image": "x"}, 1, "dep0"))
    assert store.get_app("web") == a and a.spec == spec and a.count == 8
    assert store.get_app("nope") is None
    assert [x.name for x in store.list_apps()] == ["api", "web"]
    time.sleep(0.01)
    b = store.put_app(App("web", spec, 3, "dep2", "abc123abc123"))
    assert (b.count, b.deployment_id, b.created_at) == (3, "dep2", a.created_at) and b.updated_at > a.updated_at
    assert store.delete_app("web") is True and store.delete_app("web") is False
    assert [x.name for x in store.list_apps()] == ["api"]


def test_app_deployment_record_round_trips(store):
    """A deploy writes the app pending (keeping the release it replaces) before any container starts."""
    previous = {"deployment_id": "dep1", "spec_hash": "abc123abc123", "count": 2}
    pending = store.put_app(App("web", {"name": "web", "image": "x:2"}, 4, "dep2", "def456def456",
                                state=DEPLOY_PENDING, previous=previous))
    assert store.get_app("web") == pending and (pending.state, pending.previous) == (DEPLOY_PENDING, previous)
    assert store.list_apps()[0].previous == previous
    pending.state, pending.previous = DEPLOY_ACTIVE, None
    store.put_app(pending)
    got = store.get_app("web")
    assert got is not None and (got.state, got.previous, got.count) == (DEPLOY_ACTIVE, None, 4)
    assert store.put_app(App("old", {"name": "old", "image": "x"}, 1, "dep0")).state == DEPLOY_ACTIVE


# -- events ---------------------------------------------------------------------------


def test_add_event_fills_id_and_time(store):
    before = time.time()
    e = store.add_event(Event("add-engine", host="host1", data={"by": "alice"}))
    assert e.id and before <= e.time <= time.time()
    assert store.list_events() == [e]


def seed_events(store, t0):
    rows = [
        ("run-container", "api", "web", "h1", t0 + 1),
        ("start", "docker", "web", "h1", t0 + 2),
        ("die", "docker", "api", "h2", t0 + 3),
        ("host-down", "engine", None, "h2", t0 + 4),
        ("start", "docker", "api", "h2", t0 + 5),
    ]
    return [store.add_event(Event(t, tag=g, app=a, host=h, time=at, container="c1")) for t, g, a, h, at in rows]


def test_events_newest_first_and_filters(store):
    t0 = time.time() - 100
    ev = seed_events(store, t0)
    assert store.list_events() == ev[::-1]
    assert [e.type for e in store.list_events(tag="docker")] == ["start", "die", "start"]
    assert store.list_events(type="start") == [ev[4], ev[1]]
    assert store.list_events(app="web") == [ev[1], ev[0]]
    assert store.list_events(host="h2") == [ev[4], ev[3], ev[2]]
    assert store.list_events(type="start", host="h2") == [ev[4]]
    assert store.list_events(since=t0 + 2) == [ev[4], ev[3], ev[2], ev[1]]
    assert store.list_events(until=t0 + 2) == [ev[0]]
    assert store.list_events(since=t0 + 2, until=t0 + 4) == [ev[2], ev[1]]
    assert store.list_events(limit=2) == [ev[4], ev[3]]
    assert store.list_events(tag="docker", limit=1) == [ev[4]]
    assert store.list_events(limit=None) == ev[::-1]
    assert store.list_events(type="nothing") == []


def test_same_time_events_keep_insertion_order(store):
    t = time.time()
    ev = [store.add_event(Event(f"e{n}", time=t)) for n in range(5)]
    assert [e.type for e in store.list_events()] == ["e4", "e3", "e2", "e1", "e0"]
    assert len({e.id for e in ev}) == 5


def test_delete_events(store):
    t0 = time.time() - 100
    ev = seed_events(store, t0)
    assert store.delete_events(before=t0 + 3) == 2
    assert store.list_events() == ev[:1:-1]


def test_trim_events_keeps_the_newest(store):
    ev = seed_events(store, time.time() - 100)
    assert store.trim_events(10) == 0 and len(store.list_events()) == 5
    assert store.trim_events(2) == 3
    assert store.list_events() == ev[:2:-1]
    assert store.trim_events(0) == 2 and store.list_events() == []


# -- following events -----------------------------------------------------------------


def test_follow_sees_events_written_by_another_connection(opener):
    writer, follower = opener(), opener()
    writer.add_event(Event("before"))
    with follower.follow_events() as feed:
        assert feed.get(timeout=0.3) is None  # only what is written from now on
        written = [writer.add_event(Event(f"e{n}", app="web" if n % 2 else "api")) for n in range(3)]
        assert [feed.get(timeout=5) for _ in range(3)] == written  # in the order written
        writer.delete_events(before=time.time() + 1)  # retention emptied the table
        again = writer.add_event(Event("after-retention"))
        assert feed.get(timeout=5) == again


def test_follow_filters_and_closes_from_another_thread(opener):
    writer, follower = opener(), opener()
    feed = follower.follow_events(app="web", type="start")
    feed.wait = 0.2
    seen: list[Event] = []
    reader = threading.Thread(target=lambda: seen.extend(feed))
    reader.start()
    writer.add_event(Event("start", app="api"))
    wanted = writer.add_event(Event("start", app="web"))
    writer.add_event(Event("die", app="web"))
    deadline = time.time() + 5
    while not seen and time.time() < deadline:
        time.sleep(0.02)
    feed.close()
    reader.join(timeout=5)
    assert not reader.is_alive() and seen == [wanted]
    assert feed.get(timeout=0) is None  # a closed feed gives nothing


def test_follow_apps_sees_puts_and_deletes_from_another_connection(opener):
    writer, follower = opener(), opener()
    writer.put_app(App("old", {"name": "old", "image": "x"}, 1, "dep0"))
    with follower.follow_apps() as feed:
        assert feed.get(timeout=0.3) is None  # only changes from now on
        web = writer.put_app(App("web", {"name": "web", "image": "x"}, 2, "dep1"))
        got = feed.get(timeout=5)
        assert (got.name, got.app) == ("web", web)
        time.sleep(0.01)
        scaled = writer.put_app(App("web", {"name": "web", "image": "x"}, 5, "dep2"))
        got = feed.get(timeout=5)
        assert (got.name, got.app.count, got.app.deployment_id) == ("web", 5, "dep2") and got.app == scaled
        writer.delete_app("old")
        got = feed.get(timeout=5)
        assert (got.name, got.app) == ("old", None)
        assert feed.get(timeout=0.3) is None


def test_ping(store):
    assert 0 <= store.ping() < 5


@pytest.mark.rethinkdb
def test_rethinkdb_outage_is_store_unavailable_and_recovers():
    import rethinkdb_support

    why = rethinkdb_support.unavailable({})  # a server binary, even with PAASOPS_RETHINKDB_URL set
    if why:
        pytest.skip(why)
    with rethinkdb_support.start_server() as server:  # its own server: the run's one stays up
        store = open_store(f"{server.url}/outage")
        feed = store.follow_events()
        where = f"127.0.0.1:{server.driver_port}: "
        server.stop(remove=False)
        with pytest.raises(StoreUnavailable, match=where):
            store.add_event(Event("while-down"))
        with pytest.raises(StoreUnavailable, match=where):
            store.ping()
        with pytest.raises(StoreUnavailable, match=where):
            feed.get(timeout=5)
        feed.close()
        server.restart()
        deadline = time.time() + 15
        while True:  # the same store object reconnects by itself once the tables are back
            try:
                e = store.add_event(Event("back"))
                break
            except StoreUnavailable:
                assert time.time() < deadline, "the store did not recover"
                time.sleep(0.1)
        assert store.list_events() == [e] and store.ping() >= 0
        store.close()


@pytest.mark.rethinkdb
def test_rethinkdb_first_opens_at_once_agree_on_one_schema(rethinkdb_state):
    import rethinkdb_support

    url = rethinkdb_support.new_database_url(rethinkdb_state)  # a database nobody created yet
    opened: list[Store] = []
    try:
        with ThreadPoolExecutor(4) as pool:
            opened.extend(pool.map(lambda _: open_store(url), range(4)))
        written = [s.add_event(Event(f"from-{n}")) for n, s in enumerate(opened)]
        assert all(s.list_events() == written[::-1] for s in opened)  # one events table for all
    finally:
        for s in opened:
            s.close()
        rethinkdb_support.drop_database(url)


# -- shared use -----------------------------------------------------------------------


def test_concurrent_writes_from_threads(store):
    errors, conflicts = [], []

    def work(n):
        try:
            for i in range(40):
                store.add_event(Event("tick", host=f"h{n}", data={"i": i}))
                store.put_engine(engine(f"host{n}", meta={"i": i}))
                if i % 10 == 0:
                    store.put_token(f"u{n}", token_hash(n * 100 + i), time.time() + 60)
            try:
                store.create_account("same", PW_HASH, "user")
            except ConflictError:
                conflicts.append(n)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    events = store.list_events(limit=None)
    assert len(events) == 320 and len({e.id for e in events}) == 320
    assert [e.time for e in events] == sorted((e.time for e in events), reverse=True)
    assert len(store.list_engines()) == 8 and all(e.meta == {"i": 39} for e in store.list_engines())
    assert len(store.list_tokens()) == 32
    assert len(conflicts) == 7 and [a.name for a in store.list_accounts()] == ["same"]


def test_data_survives_reopening(opener):
    first = opener()
    first.create_account("alice", PW_HASH, "admin")
    first.put_engine(engine("host1"))
    e = first.add_event(Event("add-engine", host="host1"))
    first.close()
    second = opener()
    assert second.get_account("alice").role == "admin"
    assert second.get_engine("host1").docker_url == "tcp://host1:2376"
    assert second.list_events() == [e]


def test_stopped_marks_are_kept_until_cleared(opener):
    first = opener()
    assert first.list_stopped() == set()
    assert first.mark_stopped("c1", True) and first.mark_stopped("c2", True)
    assert not first.mark_stopped("c1", True)  # already marked
    assert first.mark_stopped("c2", False) and not first.mark_stopped("c2", False)
    assert opener().list_stopped() == {"c1"}  # another connection (a restarted service) sees it


# -- open_store -----------------------------------------------------------------------


def test_open_store_sqlite_urls(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    with open_store(f"sqlite://{tmp_path}/a/b.db") as s:
        assert isinstance(s, SqliteStore) and s.path == f"{tmp_path}/a/b.db"
    with open_store("sqlite://") as s:
        assert s.path == str(tmp_path / "xdg" / "paasops" / "state.db")
    with open_store(None) as s:
        assert s.path.endswith("paasops/state.db")
    with SqliteStore(tmp_path / "w.db") as s:
        assert s._q("PRAGMA journal_mode")[0][0] == "wal"


@pytest.mark.parametrize("url", ["mysql://x/y", "state.db"])
def test_open_store_unknown_url(url):
    with pytest.raises(UserInputError, match="unknown state URL"):
        open_store(url)


def test_open_store_rethinkdb_url(monkeypatch):
    from paasops.store import rethinkdb_store

    seen = {}
    monkeypatch.setattr(rethinkdb_store, "RethinkStore", lambda **kw: seen.update(kw) or "store")
    assert open_store("rethinkdb://ops:s%3Acret@db.example:29015/cluster?timeout=3") == "store"
    assert seen == {"host": "db.example", "port": 29015, "db": "cluster", "user": "ops", "password": "s:cret", "timeout": 3.0}
    open_store("rethinkdb://db.example")
    assert (seen["port"], seen["db"], seen["user"], seen["password"]) == (28015, "paasops", "admin", "")


def test_rethinkdb_url_tls_and_auth_key_options():
    opts = rethinkdb_options("rethinkdb://db.example/ops?ca_certs=/etc/ssl/rdb-ca.pem&auth_key=s3cret&timeout=5")
    assert opts == {"host": "db.example", "port": 28015, "db": "ops", "user": "admin", "password": "s3cret",
                    "timeout": 5.0, "ssl": {"ca_certs": "/etc/ssl/rdb-ca.pem"}}
    with pytest.raises(UserInputError, match="not both"):
        rethinkdb_options("rethinkdb://admin:pw@db.example?auth_key=k")
    with pytest.raises(UserInputError, match="unknown option"):
        rethinkdb_options("rethinkdb://db.example?tls=yes")


def test_unreachable_rethinkdb_is_a_clear_error():
    with pytest.raises(ConnectionFailed, match=r"127\.0\.0\.1:1: cannot reach RethinkDB"):
        open_store("rethinkdb://127.0.0.1:1/paasops?timeout=2")
    with pytest.raises(StoreUnavailable) as caught:
        open_store("rethinkdb://127.0.0.1:1/paasops?timeout=2")
    assert caught.value.http_status == 503 and caught.value.where == "127.0.0.1:1"
