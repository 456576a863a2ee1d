"""The RethinkDB state store, with the official driver, for teams that already run RethinkDB."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

from rethinkdb import RethinkDB
from rethinkdb.errors import (
    ReqlAuthError,
    ReqlAvailabilityError,
    ReqlDriverError,
    ReqlOpFailedError,
    ReqlTimeoutError,
)

from ..errors import ConflictError, ConnectionFailed, NotFoundError, StoreUnavailable
from .base import Feed, Store, T
from .records import (
    Account,
    ApiToken,
    App,
    AppChange,
    Certificate,
    Engine,
    Event,
    Release,
    Role,
    Token,
    check_password_hash,
    check_sealed,
    check_sealed_key,
    check_sealed_secrets,
    check_token_hash,
    event_id,
    from_dict,
    id_bound,
    to_dict,
)
from .records import (
    now as clock,
)

r = RethinkDB()

# table -> (primary key, secondary indexes)
TABLES = {
    "accounts": ("name", ()),
    "roles": ("name", ()),
    "tokens": ("token_hash", ("user", "expires_at")),
    "api_tokens": ("name", ("token_hash", "user")),
    "engines": ("id", ()),
    "apps": ("name", ()),
    "events": ("id", ("time", "type", "tag", "app", "host")),
    "releases": ("id", ("app",)),  # id: "APP/DEPLOYMENT_ID" (`release_key`)
    "leases": ("name", ()),  # one serve per state: its lease (owner, token, expiry by the server's clock)
    "stopped": ("id", ()),  # containers stopped on purpose (`paasops stop`): {id, at}
    "certificates": ("hostname", ()),  # edge certificates, one per hostname (private keys sealed)
}
PING_WAIT = 2  # seconds a ping waits for the tables to be ready before saying the store is down
RETRY_AFTER = 1.0  # seconds a failed connection is trusted to stay down before trying again
SCHEMA_ATTEMPTS = 20


class NoreplyWait:
    """`noreply_wait` as a query, so that `_run` handles its errors like any other's."""

    def run(self, conn, **_):
        return conn.noreply_wait()


class ThreadConnection:
    """One thread's driver connection: a driver connection is not shared between threads, and
    threads with their own connections write 3-4x faster together (the server batches their
    flushes). Closed when its thread ends (the thread-local goes) or the store closes."""

    def __init__(self) -> None:
        self.conn = None

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close(noreply_wait=False)
            except (ReqlDriverError, OSError):
                pass

    def __del__(self) -> None:
        self.close()


class RethinkStore(Store):
    def __init__(self, host="localhost", port=28015, db="paasops", user="admin", password="", timeout=20.0,
                 ssl: dict | None = None):
        self.url = f"rethinkdb://{host}:{port}/{db}"
        self.db = db
        self.where = f"{host}:{port}"
        self._params = {"host": host, "port": port, "db": db, "user": user, "password": password,
                        "timeout": timeout, "ssl": ssl or {}}
        self._local = threading.local()
        self._all: weakref.WeakSet[ThreadConnection] = weakref.WeakSet()
        self._all_lock = threading.Lock()
        self._down: tuple[float, str] | None = None  # (until when, why) after a failed connect
        self._thread_connection().conn = self.connect()
        self._ensure_schema()

    def connect(self):
        """A new driver connection; StoreUnavailable (naming host and port) when it cannot be had."""
        try:
            return r.connect(**self._params)
        except ReqlAuthError as exc:
            raise ConnectionFailed(f"RethinkDB refused user {self._params['user']!r}: {exc}",
                                   where=self.where) from None
        except (ReqlDriverError, OSError) as exc:
            raise StoreUnavailable(f"cannot reach RethinkDB: {exc}", where=self.where) from None

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        # A ReqlError's str() carries the whole query; its message is what went wrong.
        return StoreUnavailable(f"RethinkDB is unavailable: {getattr(exc, 'message', None) or exc}",
                                where=self.where)

    def _thread_connection(self) -> ThreadConnection:
        held = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = ThreadConnection()
            with self._all_lock:
                self._all.add(held)
        return held

    def _reconnect(self, held: ThreadConnection) -> None:
        # While the server is down every call would wait on a connect: fail fast for a moment instead.
        down = self._down
        if down and time.monotonic() < down[0]:
            raise StoreUnavailable(down[1], where=self.where)
        held.close()
        try:
            held.conn = self.connect()
            self._down = None
        except StoreUnavailable as exc:
            self._down = (time.monotonic() + RETRY_AFTER, str(exc).removeprefix(f"{self.where}: "))
            raise

    def _run(self, query, *, rows: bool = False, exists_ok: bool = False, noreply: bool = False):
        """Run `query` (and read all its rows when `rows`) on this thread's connection. A broken
        connection is reopened once and the query retried; an unreachable server is StoreUnavailable."""
        held = self._thread_connection()
        for attempt in (0, 1):
            try:
                if held.conn is None or not held.conn.is_open():
                    self._reconnect(held)
                result = query.run(held.conn, noreply=noreply)
                return list(result) if rows else result
            except ReqlOpFailedError as exc:
                if exists_ok and "already exists" in str(exc):  # another process created it first
                    return None
                raise self._unavailable(exc) from None
            except ReqlAvailabilityError as exc:
                raise self._unavailable(exc) from None
            except (ReqlDriverError, OSError) as exc:
                # The server went away (and maybe came back): reopen once, then give up.
                held.close()
                if attempt:
                    raise self._unavailable(exc) from None

    def _ensure_schema(self):
        # RethinkDB does not lock names: processes creating the same database or table at once
        # make twins, and every query on the name then fails as "ambiguous". Each process
        # removes the twins it sees (all keep the lowest id, so they agree) and tries again.
        for attempt in range(SCHEMA_ATTEMPTS):
            try:
                return self._create_schema()
            except StoreUnavailable as exc:
                if "ambiguous" not in str(exc) or attempt == SCHEMA_ATTEMPTS - 1:
                    raise
                self._drop_twins("db_config", {"name": self.db})
                for table in TABLES:
                    self._drop_twins("table_config", {"db": self.db, "name": table})
                time.sleep(0.1)

    def _drop_twins(self, system_table, match):
        """Delete all but the lowest-id row of a system table (a db or table and its twins)."""
        config = r.db("rethinkdb").table(system_table)
        ids = sorted(row["id"] for row in self._run(config.filter(match).pluck("id"), rows=True))
        for twin in ids[1:]:
            self._run(config.get(twin).delete())

    def _create_schema(self):
        if self.db not in self._run(r.db_list()):
            self._run(r.db_create(self.db), exists_ok=True)
            self._drop_twins("db_config", {"name": self.db})
        d = r.db(self.db)
        missing = [t for t in TABLES if t not in self._run(d.table_list())]
        if missing:
            # Each table_create waits ~0.3 s for its table to be ready: send them all without
            # waiting for replies, then wait once (1.7 s -> 0.6 s for the six).
            for table in missing:
                self._run(d.table_create(table, primary_key=TABLES[table][0]), noreply=True)
            self._run(NoreplyWait())
            for table in missing:
                self._drop_twins("table_config", {"db": self.db, "name": table})
            self._run(d.wait())
        existing = set(self._run(d.table_list()))
        for table, (pk, indexes) in TABLES.items():
            if table not in existing:  # a create sent above failed: again, with its error this time
                self._run(d.table_create(table, primary_key=pk), exists_ok=True)
            have = set(self._run(d.table(table).index_list()))
            for index in indexes:
                if index not in have:
                    self._run(d.table(table).index_create(index), exists_ok=True)
            self._run(d.table(table).index_wait())

    def _t(self, table):
        return r.db(self.db).table(table)

    def _rows(self, query) -> list[dict]:
        return self._run(query, rows=True)

    # -- accounts ---------------------------------------------------------------------
    def create_account(self, name, password_hash, role, team=None):
        check_password_hash(password_hash)
        t = clock()
        account = Account(name, password_hash, role, t, t, team)
        result = self._run(self._t("accounts").insert(to_dict(account), conflict="error"))
        if result.get("errors"):
            raise ConflictError(f"account {name!r} already exists")
        return account

    def get_account(self, name):
        doc = self._run(self._t("accounts").get(name))
        return from_dict(Account, doc) if doc else None

    def list_accounts(self):
        return [from_dict(Account, d) for d in self._rows(self._t("accounts").order_by("name"))]

    def delete_account(self, name):
        self._run(self._t("tokens").get_all(name, index="user").delete())
        return self._run(self._t("accounts").get(name).delete())["deleted"] > 0

    def _update_account(self, name, changes):
        result = self._run(self._t("accounts").get(name).update({**changes, "updated_at": clock()}))
        if result.get("skipped") or not (result.get("replaced") or result.get("unchanged")):
            raise NotFoundError(f"no account {name!r}")
        return self.get_account(name)

    def update_password(self, name, password_hash):
        check_password_hash(password_hash)
        return self._update_account(name, {"password_hash": password_hash})

    def set_role(self, name, role):
        return self._update_account(name, {"role": role})

    def set_team(self, name, team):
        return self._update_account(name, {"team": team})

    # -- roles ------------------------------------------------------------------------
    def put_role(self, name, paths):
        role = Role(name, list(paths))
        self._run(self._t("roles").insert(to_dict(role), conflict="replace"))
        return role

    def get_role(self, name):
        doc = self._run(self._t("roles").get(name))
        return from_dict(Role, doc) if doc else None

    def list_roles(self):
        return [from_dict(Role, d) for d in self._rows(self._t("roles").order_by("name"))]

    def delete_role(self, name):
        return self._run(self._t("roles").get(name).delete())["deleted"] > 0

    # -- tokens -----------------------------------------------------------------------
    def put_token(self, user, token_hash, expires_at):
        check_token_hash(token_hash)
        token = Token(token_hash, user, float(expires_at), clock())
        self._run(self._t("tokens").insert(to_dict(token), conflict="replace"))
        return token

    def find_token(self, token_hash, now=None):
        doc = self._run(self._t("tokens").get(token_hash))
        at = now if now is not None else clock()
        return from_dict(Token, doc) if doc and doc["expires_at"] > at else None

    def list_tokens(self, user=None):
        query = self._t("tokens") if user is None else self._t("tokens").get_all(user, index="user")
        docs = sorted(self._rows(query), key=lambda d: (d["created_at"], d["token_hash"]))
        return [from_dict(Token, d) for d in docs]

    def revoke_tokens(self, *, user=None, token_hash=None):
        if user is None and token_hash is None:
            raise ValueError("revoke_tokens needs a user or a token hash")
        if token_hash is not None:
            query = self._t("tokens").get_all(token_hash)
            if user is not None:
                query = query.filter({"user": user})
        else:
            query = self._t("tokens").get_all(user, index="user")
        return self._run(query.delete())["deleted"]

    def purge_expired(self, now=None):
        at = now if now is not None else clock()
        query = self._t("tokens").between(r.minval, at, index="expires_at", right_bound="closed")
        return self._run(query.delete())["deleted"]

    # -- API tokens -------------------------------------------------------------------
    def put_api_token(self, token):
        check_token_hash(token.token_hash)
        token = ApiToken(**{**to_dict(token), "created_at": clock()})
        if self._run(self._t("api_tokens").insert(to_dict(token), conflict="error"))["errors"]:
            raise ConflictError(f"API token {token.name!r} already exists")
        return token

    def find_api_token(self, token_hash, now=None):
        at = now if now is not None else clock()
        for doc in self._rows(self._t("api_tokens").get_all(token_hash, index="token_hash")):
            if doc.get("expires_at") is None or doc["expires_at"] > at:
                return from_dict(ApiToken, doc)
        return None

    def list_api_tokens(self, user=None):
        table = self._t("api_tokens")
        query = table if user is None else table.get_all(user, index="user")
        return [from_dict(ApiToken, d) for d in sorted(self._rows(query), key=lambda d: d["name"])]

    def delete_api_token(self, name):
        return self._run(self._t("api_tokens").get(name).delete())["deleted"] > 0

    # -- engines and apps -------------------------------------------------------------
    def _put_doc(self, table, record):
        t = clock()
        doc = to_dict(record)
        doc["created_at"] = record.created_at or t
        doc["updated_at"] = t
        def keep_created(_key, old, new):
            return new.merge({"created_at": old["created_at"]})

        result = self._run(self._t(table).insert(doc, conflict=keep_created, return_changes="always"))
        return result["changes"][0]["new_val"]

    def put_engine(self, engine):
        return from_dict(Engine, self._put_doc("engines", engine))

    def get_engine(self, engine_id):
        doc = self._run(self._t("engines").get(engine_id))
        return from_dict(Engine, doc) if doc else None

    def list_engines(self):
        return [from_dict(Engine, d) for d in self._rows(self._t("engines").order_by("id"))]

    def delete_engine(self, engine_id):
        return self._run(self._t("engines").get(engine_id).delete())["deleted"] > 0

    def put_app(self, app):
        check_sealed(app)
        return from_dict(App, self._put_doc("apps", app))

    def get_app(self, name):
        doc = self._run(self._t("apps").get(name))
        return from_dict(App, doc) if doc else None

    def list_apps(self):
        return [from_dict(App, d) for d in self._rows(self._t("apps").order_by("name"))]

    def delete_app(self, name):
        return self._run(self._t("apps").get(name).delete())["deleted"] > 0

    def follow_apps(self):
        return Changefeed(self, self._t("apps"), app_change)

    # -- release history ----------------------------------------------------------------
    def put_release(self, release):
        check_sealed_secrets(release.app, release.secrets)
        doc = {**to_dict(release), "id": release_key(release.app, release.deployment_id)}
        self._run(self._t("releases").insert(doc, conflict="replace"))
        return from_dict(Release, doc)

    def get_release(self, app, deployment_id):
        doc = self._run(self._t("releases").get(release_key(app, deployment_id)))
        return from_dict(Release, doc) if doc else None

    def list_releases(self, app, limit=None):
        # an app keeps tens of releases (the history is trimmed): sorted here rather than by a compound index
        docs = sorted(self._rows(self._t("releases").get_all(app, index="app")),
                      key=lambda d: d["started_at"], reverse=True)
        return [from_dict(Release, d) for d in (docs if limit is None else docs[:int(limit)])]

    def trim_releases(self, app, keep):
        gone = [release_key(app, r.deployment_id) for r in self.list_releases(app)[max(int(keep), 0):]]
        return self._run(self._t("releases").get_all(*gone).delete())["deleted"] if gone else 0

    def delete_releases(self, app):
        return self._run(self._t("releases").get_all(app, index="app").delete())["deleted"]

    # -- containers stopped on purpose ---------------------------------------------------
    def mark_stopped(self, container_id, stopped):
        if stopped:
            return self._run(self._t("stopped").insert({"id": container_id, "at": clock()}))["inserted"] > 0
        return self._run(self._t("stopped").get(container_id).delete())["deleted"] > 0

    def list_stopped(self):
        return {d["id"] for d in self._rows(self._t("stopped").pluck("id"))}

    # -- edge certificates ------------------------------------------------------------
    def put_certificate(self, cert):
        check_sealed_key(cert)
        return from_dict(Certificate, self._put_doc("certificates", cert))

    def get_certificate(self, hostname):
        doc = self._run(self._t("certificates").get(hostname))
        return from_dict(Certificate, doc) if doc else None

    def list_certificates(self):
        return [from_dict(Certificate, d) for d in self._rows(self._t("certificates").order_by("hostname"))]

    def delete_certificate(self, hostname):
        return self._run(self._t("certificates").get(hostname).delete())["deleted"] > 0

    # -- events -----------------------------------------------------------------------
    def add_event(self, event):
        doc = to_dict(event)
        doc["time"] = doc["time"] or clock()
        doc["id"] = doc["id"] or event_id(doc["time"])
        self._run(self._t("events").insert(doc, conflict="error"))
        return from_dict(Event, doc)

    def list_events(self, *, type=None, tag=None, app=None, host=None, since=None, until=None, limit=100):
        # Ids start with the time in ns, so a primary-key range narrows by time and orders newest first;
        # the exact bounds are then checked on `time` (1 µs of slack covers float rounding).
        low = id_bound(since - 1e-6) if since is not None else r.minval
        high = id_bound(until + 1e-6) if until is not None else r.maxval
        query = self._t("events").between(low, high, index="id").order_by(index=r.desc("id"))
        fields = {k: v for k, v in (("type", type), ("tag", tag), ("app", app), ("host", host)) if v is not None}
        if fields:
            query = query.filter(fields)
        if since is not None:
            query = query.filter(r.row["time"] >= since)
        if until is not None:
            query = query.filter(r.row["time"] < until)
        if limit is not None:
            query = query.limit(int(limit))
        return [from_dict(Event, d) for d in self._rows(query)]

    def delete_events(self, before):
        query = self._t("events").between(r.minval, before, index="time", right_bound="open")
        return self._run(query.delete())["deleted"]

    def trim_events(self, keep):
        oldest_kept = self._rows(self._t("events").order_by(index=r.desc("id")).skip(max(int(keep), 0)).limit(1))
        if not oldest_kept:
            return 0
        query = self._t("events").between(r.minval, oldest_kept[0]["id"], index="id", right_bound="closed")
        return self._run(query.delete())["deleted"]

    def follow_events(self, *, type=None, tag=None, app=None, host=None):
        fields = {k: v for k, v in (("type", type), ("tag", tag), ("app", app), ("host", host)) if v is not None}
        query = self._t("events")
        return Changefeed(self, query.filter(fields) if fields else query, inserted_event)

    def take_lease(self, name: str, owner: str, token: str, ttl: float) -> dict:
        """Take or renew lease `name` for `ttl` seconds when it is free, lapsed or ours (`token`);
        returns the lease as it now is (another holder's when it is not ours). Atomic on the server."""
        mine = {"name": name, "owner": owner, "token": token,
                "expires": r.now().to_epoch_time().add(ttl), "server_time": r.now().to_epoch_time()}
        self._run(self._t("leases").get(name).replace(
            lambda row: r.branch(row.eq(None) | (row["token"] == token)
                                 | (row["expires"] < r.now().to_epoch_time()), mine, row)))
        found = self._run(self._t("leases").get(name).merge({"server_time": r.now().to_epoch_time()}))
        return dict(found or {})

    def release_lease(self, name: str, token: str) -> None:
        """Give lease `name` up if it is still ours."""
        self._run(self._t("leases").get(name).replace(
            lambda row: r.branch(row.ne(None) & (row["token"] == token), None, row)))

    def ping(self):
        start = time.perf_counter()
        # Not just a round trip: a restarted server answers before its tables take reads and writes.
        self._run(r.db(self.db).wait(wait_for="ready_for_writes", timeout=PING_WAIT))
        return time.perf_counter() - start

    def close(self):
        with self._all_lock:
            held = list(self._all)
        for h in held:
            h.close()


def release_key(app: str, deployment_id: str) -> str:
    """A release's primary key: app names and deployment ids hold no `/`."""
    return f"{app}/{deployment_id}"


def inserted_event(change: dict) -> Event | None:
    """The event a change on the events table adds, or None (retention deletes, updates)."""
    if change.get("new_val") is not None and change.get("old_val") is None:
        return from_dict(Event, change["new_val"])
    return None


def app_change(change: dict) -> AppChange | None:
    """The app a change on the apps table puts (or deletes: `app` None)."""
    new, old = change.get("new_val"), change.get("old_val")
    if new is not None:
        return AppChange(new["name"], from_dict(App, new))
    return AppChange(old["name"], None) if old is not None else None


class Changefeed(Feed[T]):
    """A RethinkDB changefeed on a connection of its own (a cursor blocks its connection while
    it waits); `convert` turns each change into what the feed gives, or None to pass it over."""

    def __init__(self, store: RethinkStore, query, convert: Callable[[dict], T | None]):
        super().__init__()
        self.store, self.convert = store, convert
        self.conn = store.connect()
        try:
            self.cursor = query.changes().run(self.conn)
        except (ReqlDriverError, ReqlAvailabilityError, OSError) as exc:
            self.conn.close(noreply_wait=False)
            raise store._unavailable(exc) from None

    def _next(self, timeout):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = True if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                change = self.cursor.next(wait=wait)
            except ReqlTimeoutError:
                return None
            except (ReqlDriverError, ReqlAvailabilityError, OSError) as exc:
                raise self.store._unavailable(exc) from None
            converted = self.convert(change)
            if converted is not None:
                return converted

    def _release(self):
        try:
            self.conn.close(noreply_wait=False)
        except (ReqlDriverError, OSError):
            pass
