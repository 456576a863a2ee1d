"""What the service does while its store is away: the token cache, the event buffer, the shared event
feed's catch-up and the desired-state watcher (SQLite stores made to fail on demand)."""

from __future__ import annotations

import threading
import time

import pytest

from paasops.auth.authenticator import Authenticator
from paasops.auth.first_admin import seed_roles
from paasops.auth.passwords import hash_password
from paasops.auth.tokens import Tokens
from paasops.errors import AuthError, ConflictError, StoreUnavailable
from paasops.service.app_watch import AppWatcher, desired
from paasops.service.event_log import EventLog
from paasops.service.event_stream import EventHub
from paasops.store.records import App, AppChange, Event
from paasops.store.sqlite import SqliteStore

DOWN = StoreUnavailable("RethinkDB is unavailable", where="127.0.0.1:28015")


class Outage:
    """Wraps a store: while `down`, every call raises StoreUnavailable, and open feeds fail."""

    def __init__(self, store):
        self.store = store
        self.down = False

    def __getattr__(self, name):
        attr = getattr(self.store, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            if self.down:
                raise DOWN
            result = attr(*args, **kwargs)
            return BreakingFeed(result, self) if name.startswith("follow_") else result
        return call


class BreakingFeed:
    def __init__(self, feed, outage: Outage):
        self.feed, self.outage = feed, outage

    def __iter__(self):
        for change in self.feed:
            if self.outage.down:
                raise DOWN
            yield change

    def close(self):
        self.feed.close()


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def store(tmp_path):
    with SqliteStore(tmp_path / "state.db") as s:
        s.poll_interval = 0.02
        yield s


# -- the token cache ------------------------------------------------------------------------------
class Clock:
    t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def test_verified_tokens_stand_in_only_while_the_store_is_away_and_only_for_the_ttl(store):
    seed_roles(store)
    store.create_account("bob", hash_password("bob-password-1"), "user")
    clock, outage = Clock(), Outage(store)
    tokens = Tokens(outage, clock=clock)
    auth = Authenticator(outage, tokens, cache_ttl=30, clock=clock)
    credential, record = tokens.issue("bob")
    headers = {"authorization": f"Bearer {credential}"}
    assert auth.authenticate(headers, "GET", "/api/containers")[0].name == "bob"

    outage.down = True
    clock.t += 29
    assert auth.authenticate(headers, "GET", "/api/containers")[0].name == "bob"  # from memory
    with pytest.raises(Exception, match="may not"):
        auth.authenticate(headers, "DELETE", "/api/engines/x")  # the cached role still applies
    clock.t += 2  # past the TTL
    with pytest.raises(StoreUnavailable):
        auth.authenticate(headers, "GET", "/api/containers")
    with pytest.raises(StoreUnavailable):  # a token never checked is never let in
        auth.authenticate({"authorization": "Bearer bob:unknown"}, "GET", "/api/containers")

    outage.down = False
    auth.authenticate(headers, "GET", "/api/containers")
    tokens.revoke(record.token_hash)  # revoked here: the cache forgets it at once
    outage.down = True
    with pytest.raises(StoreUnavailable):
        auth.authenticate(headers, "GET", "/api/containers")


def test_a_token_revoked_elsewhere_is_refused_as_soon_as_the_store_answers(store):
    seed_roles(store)
    store.create_account("bob", hash_password("bob-password-1"), "user")
    clock, outage = Clock(), Outage(store)
    tokens = Tokens(outage, clock=clock)
    auth = Authenticator(outage, tokens, clock=clock)
    credential, record = tokens.issue("bob")
    headers = {"authorization": f"Bearer {credential}"}
    auth.authenticate(headers, "GET", "/api/containers")
    store.revoke_tokens(token_hash=record.token_hash)  # another process revokes it
    with pytest.raises(AuthError):
        auth.authenticate(headers, "GET", "/api/containers")
    outage.down = True
    with pytest.raises(StoreUnavailable):  # and the refusal dropped the cached check
        auth.authenticate(headers, "GET", "/api/containers")


def test_the_cache_never_outlives_the_token(store):
    seed_roles(store)
    store.create_account("bob", hash_password("bob-password-1"), "user")
    clock, outage = Clock(), Outage(store)
    tokens = Tokens(outage, ttl=10, clock=clock)
    auth = Authenticator(outage, tokens, cache_ttl=30, clock=clock)
    credential, _ = tokens.issue("bob")
    auth.authenticate({"authorization": f"Bearer {credential}"}, "GET", "/api/containers")
    outage.down = True
    clock.t += 10
    with pytest.raises(StoreUnavailable):
        auth.authenticate({"authorization": f"Bearer {credential}"}, "GET", "/api/containers")


# -- the event buffer -----------------------------------------------------------------------------
def test_events_recorded_during_an_outage_are_kept_bounded_then_written_in_order(store):
    outage = Outage(store)
    log = EventLog(outage, buffered=3)
    log.record("a")
    outage.down = True
    kept = [log.record(f"e{i}") for i in range(5)]  # never raises
    assert len(log.pending) == 3 and log.dropped == 2
    assert log.flush() == 3  # still down
    outage.down = False
    log.record("after")
    assert not log.pending and log.dropped == 0
    types = [e.type for e in reversed(store.list_events(limit=None))]
    assert types == ["a", "e2", "e3", "e4", "after"]
    assert [e.id for e in store.list_events(type="e4")] == [kept[4].id]


# -- the shared event feed --------------------------------------------------------------------------
def test_one_feed_fans_out_by_filter(store):
    hub = EventHub(store, retry=0.05)
    everything, web = [], []
    hub.subscribe(everything.append)
    sub = hub.subscribe(web.append, {"app": "web"})
    store.add_event(Event("deploy-app", app="web"))
    store.add_event(Event("deploy-app", app="db"))
    wait_for(lambda: len(everything) == 2)
    assert [e.app for e in web] == ["web"]
    hub.unsubscribe(sub)
    store.add_event(Event("scale", app="web"))
    wait_for(lambda: len(everything) == 3)
    assert len(web) == 1 and hub.subscribers == 1
    ended = []
    hub.subscribe(everything.append, end=lambda: ended.append(True))
    hub.stop()  # the service shuts down: open streams are asked to end
    assert ended == [True]


def test_after_an_outage_the_feed_reopens_and_catches_up_without_repeats(store):
    outage = Outage(store)
    flushed = threading.Event()
    store.add_event(Event("long-before"))  # never handed out: written before the hub started
    hub = EventHub(outage, retry=0.05, on_reopen=flushed.set)
    seen: list[Event] = []
    hub.subscribe(seen.append)
    store.add_event(Event("before"))
    wait_for(lambda: len(seen) == 1)
    outage.down = True
    store.add_event(Event("during"))  # written by another process: the broken feed misses it
    time.sleep(0.3)
    outage.down = False
    wait_for(flushed.is_set)
    store.add_event(Event("after"))
    wait_for(lambda: len(seen) == 3)
    time.sleep(0.2)
    assert [e.type for e in seen] == ["before", "during", "after"]
    hub.stop()


# -- the desired-state watcher ----------------------------------------------------------------------
def app(name: str, count: int) -> App:
    return App(name, {"name": name, "image": "nginx"}, count, "d1", "h1")


def test_only_changes_from_another_process_trigger_a_reconcile():
    done: list[str] = []
    mine: dict[str, tuple | None] = {}
    watcher = AppWatcher(store=None, reconcile=done.append, written=mine.get, retry=0.01)  # type: ignore[arg-type]
    mine["web"] = desired(app("web", 2))
    assert not watcher.on_change(AppChange("web", app("web", 2)))  # our own write
    assert watcher.on_change(AppChange("web", app("web", 3)))  # another process scaled it
    assert not watcher.on_change(AppChange("web", app("web", 3)))  # the same state again
    assert watcher.on_change(AppChange("db", app("db", 1)))
    assert done == ["web", "db"]


def test_a_busy_reconcile_is_tried_again():
    calls = []

    def reconcile(name):
        calls.append(name)
        if len(calls) < 3:
            raise ConflictError("a reconcile is running")

    watcher = AppWatcher(store=None, reconcile=reconcile, written=lambda name: None, retry=0.01)  # type: ignore[arg-type]
    assert watcher.on_change(AppChange("web", app("web", 2)))
    assert calls == ["web"] * 3


def test_the_watcher_follows_the_store_and_catches_up_after_an_outage(store):
    outage = Outage(store)
    done: list[str] = []
    watcher = AppWatcher(outage, done.append, lambda name: None, retry=0.05)  # type: ignore[arg-type]
    watcher.start()
    wait_for(watcher.ready.is_set)
    store.put_app(app("web", 2))
    wait_for(lambda: done == ["web"])
    outage.down = True
    store.put_app(app("web", 4))  # changed while the feed was away
    time.sleep(0.2)
    outage.down = False
    wait_for(lambda: done == ["web", "web"])
    watcher.stop()


# -- the API ----------------------------------------------------------------------------------------
def test_healthz_and_a_write_during_an_outage(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from paasops.api.app import create_app
    from paasops.service.service import Service
    from paasops.service.settings import ServiceSettings

    def down(*args, **kwargs):
        raise DOWN

    service = Service(ServiceSettings(state=f"sqlite:///{tmp_path / 'state.db'}", pki_dir=tmp_path))
    with TestClient(create_app(service)) as api:
        assert api.get("/healthz").json() == {"ok": True, "engines": 0, "store": "up"}
        monkeypatch.setattr(service.store, "ping", down)
        monkeypatch.setattr(service.store, "get_account", down)
        assert api.get("/healthz").json() == {
            "ok": False, "engines": 0, "store": "down: 127.0.0.1:28015: RethinkDB is unavailable"}
        answer = api.post("/api/login", json={"username": "admin", "password": "whatever-it-is"})
        assert answer.status_code == 503
        assert answer.json() == {"error": "127.0.0.1:28015: RethinkDB is unavailable", "type": "StoreUnavailable"}
    service.stop()
