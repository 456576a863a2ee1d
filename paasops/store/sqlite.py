"""The embedded state store: one SQLite file in WAL mode, shared by the service's threads."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from abc import abstractmethod
from collections import deque
from pathlib import Path

from ..errors import ConflictError, NotFoundError
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
    to_dict,
)
from .records import (
    now as clock,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, team TEXT);
CREATE TABLE IF NOT EXISTS roles (name TEXT PRIMARY KEY, paths TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY, user TEXT NOT NULL,
    expires_at REAL NOT NULL, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS tokens_user ON tokens(user);
CREATE TABLE IF NOT EXISTS api_tokens (
    name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, user TEXT NOT NULL, role TEXT NOT NULL,
    routes TEXT NOT NULL, expires_at REAL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS engines (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS apps (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, time REAL NOT NULL, type TEXT NOT NULL, tag TEXT NOT NULL,
    app TEXT, host TEXT, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_time ON events(time);
CREATE INDEX IF NOT EXISTS events_type ON events(type, id);
CREATE INDEX IF NOT EXISTS events_app ON events(app, id);
CREATE INDEX IF NOT EXISTS events_host ON events(host, id);
CREATE TABLE IF NOT EXISTS releases (
    app TEXT NOT NULL, deployment_id TEXT NOT NULL, started_at REAL NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (app, deployment_id));
CREATE INDEX IF NOT EXISTS releases_app ON releases(app, started_at);
CREATE TABLE IF NOT EXISTS stopped (id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS certificates (hostname TEXT PRIMARY KEY, doc TEXT NOT NULL);
"""
# Columns added since a state file could have been made: (table, column, its declaration).
MIGRATIONS = [("accounts", "team", "team TEXT")]


def migrate(db: sqlite3.Connection) -> None:
    """Bring an older state file's tables up to SCHEMA (the columns it lacks: NULL in old rows).

    App records need nothing: they are JSON documents, and a field they lack takes its default
    (an app without `owner` is from before ownership: admins' only). A table SCHEMA adds since
    (`releases`, `certificates`) is made by its CREATE ... IF NOT EXISTS.
    """
    for table, column, declaration in MIGRATIONS:
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {declaration}")


def event_filters(type=None, tag=None, app=None, host=None) -> tuple[list[str], list]:
    """WHERE terms and their arguments for the column filters of `list_events`."""
    where, args = [], []
    for column, value in (("type", type), ("tag", tag), ("app", app), ("host", host)):
        if value is not None:
            where.append(f"{column}=?")
            args.append(value)
    return where, args


class PollingFeed(Feed[T]):
    """Changes found by looking at the file every `poll` seconds (whatever process wrote them)."""

    def __init__(self, store: SqliteStore, poll: float):
        super().__init__()
        self.store, self.poll = store, poll
        self.pending: deque[T] = deque()

    @abstractmethod
    def _fetch(self) -> list[T]:
        """What changed since the last look."""

    def _next(self, timeout):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if not self.pending:
                self.pending.extend(self._fetch())
            if self.pending:
                return self.pending.popleft()
            left = self.poll if deadline is None else min(self.poll, deadline - time.monotonic())
            if left <= 0 or self.closed:
                return None
            time.sleep(left)

    def _release(self):
        self.pending.clear()


class EventPoll(PollingFeed[Event]):
    """New events by rowid: insertion order, whichever process inserted."""

    def __init__(self, store: SqliteStore, filters: dict, poll: float):
        super().__init__(store, poll)
        self.where, self.args = event_filters(**filters)
        self.last = self._max_rowid()

    def _max_rowid(self) -> int:
        return self.store._q("SELECT coalesce(max(rowid), 0) FROM events")[0][0]

    def _fetch(self):
        top = self._max_rowid()
        if top < self.last:  # emptied (retention) and written again: rowids restarted
            self.last = 0
        if top == self.last:
            return []
        where = " AND ".join(["rowid>?", *self.where])
        rows = self.store._q(f"SELECT doc FROM events WHERE {where} AND rowid<=? ORDER BY rowid",
                             (self.last, *self.args, top))
        self.last = top
        return [from_dict(Event, json.loads(r["doc"])) for r in rows]


class AppPoll(PollingFeed[AppChange]):
    """App changes by comparing `updated_at` with the last look (apps are few: tens, not millions)."""

    def __init__(self, store: SqliteStore, poll: float):
        super().__init__(store, poll)
        self.seen = self._stamps()

    def _stamps(self) -> dict[str, float]:
        rows = self.store._q("SELECT name, json_extract(doc, '$.updated_at') AS t FROM apps")
        return {r["name"]: r["t"] for r in rows}

    def _fetch(self):
        now = self._stamps()
        changes = []
        for name in sorted(now, key=now.__getitem__):  # oldest change first
            if self.seen.get(name) != now[name]:
                app = self.store.get_app(name)
                changes.append(AppChange(name, app))
                if app is None:  # deleted since the look
                    del now[name]
        changes += [AppChange(name, None) for name in sorted(self.seen.keys() - now.keys())
                    if all(c.name != name for c in changes)]
        self.seen = now
        return changes


class SqliteStore(Store):
    poll_interval = 0.1  # seconds between a follower's looks at the file

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self.url = f"sqlite://{self.path}"
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # Password hashes live here: readable by the owner only.
            Path(self.path).touch(mode=0o600, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.executescript(SCHEMA)
            migrate(self._db)

    def _q(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _w(self, sql: str, args: tuple = ()) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    # -- accounts ---------------------------------------------------------------------
    def create_account(self, name, password_hash, role, team=None):
        check_password_hash(password_hash)
        t = clock()
        try:
            self._w("INSERT INTO accounts (name, password_hash, role, created_at, updated_at, team) "
                    "VALUES (?,?,?,?,?,?)", (name, password_hash, role, t, t, team))
        except sqlite3.IntegrityError:
            raise ConflictError(f"account {name!r} already exists") from None
        return Account(name, password_hash, role, t, t, team)

    def get_account(self, name):
        rows = self._q("SELECT * FROM accounts WHERE name=?", (name,))
        return Account(**dict(rows[0])) if rows else None

    def list_accounts(self):
        return [Account(**dict(r)) for r in self._q("SELECT * FROM accounts ORDER BY name")]

    def delete_account(self, name):
        with self._lock:
            self._w("DELETE FROM tokens WHERE user=?", (name,))
            return self._w("DELETE FROM accounts WHERE name=?", (name,)) > 0

    def _update_account(self, name, column, value):
        with self._lock:
            if not self._w(f"UPDATE accounts SET {column}=?, updated_at=? WHERE name=?", (value, clock(), name)):
                raise NotFoundError(f"no account {name!r}")
            return self.get_account(name)

    def update_password(self, name, password_hash):
        check_password_hash(password_hash)
        return self._update_account(name, "password_hash", password_hash)

    def set_role(self, name, role):
        return self._update_account(name, "role", role)

    def set_team(self, name, team):
        return self._update_account(name, "team", team)

    # -- roles ------------------------------------------------------------------------
    def put_role(self, name, paths):
        paths = list(paths)
        self._w("INSERT OR REPLACE INTO roles VALUES (?,?)", (name, json.dumps(paths)))
        return Role(name, paths)

    def get_role(self, name):
        rows = self._q("SELECT * FROM roles WHERE name=?", (name,))
        return Role(rows[0]["name"], json.loads(rows[0]["paths"])) if rows else None

    def list_roles(self):
        return [Role(r["name"], json.loads(r["paths"])) for r in self._q("SELECT * FROM roles ORDER BY name")]

    def delete_role(self, name):
        return self._w("DELETE FROM roles WHERE name=?", (name,)) > 0

    # -- tokens -----------------------------------------------------------------------
    def put_token(self, user, token_hash, expires_at):
        check_token_hash(token_hash)
        token = Token(token_hash, user, float(expires_at), clock())
        self._w("INSERT OR REPLACE INTO tokens VALUES (?,?,?,?)",
                (token.token_hash, token.user, token.expires_at, token.created_at))
        return token

    def find_token(self, token_hash, now=None):
        at = now if now is not None else clock()
        rows = self._q("SELECT * FROM tokens WHERE token_hash=? AND expires_at>?", (token_hash, at))
        return Token(**dict(rows[0])) if rows else None

    def list_tokens(self, user=None):
        if user is None:
            rows = self._q("SELECT * FROM tokens ORDER BY created_at, token_hash")
        else:
            rows = self._q("SELECT * FROM tokens WHERE user=? ORDER BY created_at, token_hash", (user,))
        return [Token(**dict(r)) for r in rows]

    def revoke_tokens(self, *, user=None, token_hash=None):
        if user is None and token_hash is None:
            raise ValueError("revoke_tokens needs a user or a token hash")
        if token_hash is None:
            return self._w("DELETE FROM tokens WHERE user=?", (user,))
        if user is None:
            return self._w("DELETE FROM tokens WHERE token_hash=?", (token_hash,))
        return self._w("DELETE FROM tokens WHERE token_hash=? AND user=?", (token_hash, user))

    def purge_expired(self, now=None):
        return self._w("DELETE FROM tokens WHERE expires_at<=?", (now if now is not None else clock(),))

    # -- API tokens -------------------------------------------------------------------
    @staticmethod
    def _api_token(row) -> ApiToken:
        return ApiToken(**{**dict(row), "routes": json.loads(row["routes"])})

    def put_api_token(self, token):
        check_token_hash(token.token_hash)
        token = ApiToken(**{**to_dict(token), "created_at": clock()})
        try:
            self._w("INSERT INTO api_tokens VALUES (?,?,?,?,?,?,?)",
                    (token.name, token.token_hash, token.user, token.role, json.dumps(list(token.routes)),
                     token.expires_at, token.created_at))
        except sqlite3.IntegrityError:
            raise ConflictError(f"API token {token.name!r} already exists") from None
        return token

    def find_api_token(self, token_hash, now=None):
        at = now if now is not None else clock()
        rows = self._q("SELECT * FROM api_tokens WHERE token_hash=? AND (expires_at IS NULL OR expires_at>?)",
                       (token_hash, at))
        return self._api_token(rows[0]) if rows else None

    def list_api_tokens(self, user=None):
        if user is None:
            return [self._api_token(r) for r in self._q("SELECT * FROM api_tokens ORDER BY name")]
        return [self._api_token(r) for r in self._q("SELECT * FROM api_tokens WHERE user=? ORDER BY name", (user,))]

    def delete_api_token(self, name):
        return self._w("DELETE FROM api_tokens WHERE name=?", (name,)) > 0

    # -- engines, apps and certificates: whole records as JSON documents ----------------
    def _put_doc(self, table, key, record):
        with self._lock:
            old = self._q(f"SELECT doc FROM {table} WHERE {key}=?", (getattr(record, key),))
            t = clock()
            doc = to_dict(record)
            doc["created_at"] = json.loads(old[0]["doc"])["created_at"] if old else (record.created_at or t)
            doc["updated_at"] = t
            self._w(f"INSERT OR REPLACE INTO {table} VALUES (?,?)", (doc[key], json.dumps(doc)))
            return doc

    def put_engine(self, engine):
        return from_dict(Engine, self._put_doc("engines", "id", engine))

    def get_engine(self, engine_id):
        rows = self._q("SELECT doc FROM engines WHERE id=?", (engine_id,))
        return from_dict(Engine, json.loads(rows[0]["doc"])) if rows else None

    def list_engines(self):
        return [from_dict(Engine, json.loads(r["doc"])) for r in self._q("SELECT doc FROM engines ORDER BY id")]

    def delete_engine(self, engine_id):
        return self._w("DELETE FROM engines WHERE id=?", (engine_id,)) > 0

    def put_app(self, app):
        check_sealed(app)
        return from_dict(App, self._put_doc("apps", "name", app))

    def get_app(self, name):
        rows = self._q("SELECT doc FROM apps WHERE name=?", (name,))
        return from_dict(App, json.loads(rows[0]["doc"])) if rows else None

    def list_apps(self):
        return [from_dict(App, json.loads(r["doc"])) for r in self._q("SELECT doc FROM apps ORDER BY name")]

    def delete_app(self, name):
        return self._w("DELETE FROM apps WHERE name=?", (name,)) > 0

    def follow_apps(self):
        return AppPoll(self, self.poll_interval)

    # -- release history ----------------------------------------------------------------
    def put_release(self, release):
        check_sealed_secrets(release.app, release.secrets)
        doc = to_dict(release)
        self._w("INSERT OR REPLACE INTO releases VALUES (?,?,?,?)",
                (release.app, release.deployment_id, release.started_at, json.dumps(doc)))
        return from_dict(Release, doc)

    def get_release(self, app, deployment_id):
        rows = self._q("SELECT doc FROM releases WHERE app=? AND deployment_id=?", (app, deployment_id))
        return from_dict(Release, json.loads(rows[0]["doc"])) if rows else None

    def list_releases(self, app, limit=None):
        sql = "SELECT doc FROM releases WHERE app=? ORDER BY started_at DESC, rowid DESC"
        args: tuple = (app,)
        if limit is not None:
            sql, args = sql + " LIMIT ?", (app, int(limit))
        return [from_dict(Release, json.loads(r["doc"])) for r in self._q(sql, args)]

    def trim_releases(self, app, keep):
        with self._lock:
            gone = [r.deployment_id for r in self.list_releases(app)[max(int(keep), 0):]]
            for deployment_id in gone:
                self._w("DELETE FROM releases WHERE app=? AND deployment_id=?", (app, deployment_id))
            return len(gone)

    def delete_releases(self, app):
        return self._w("DELETE FROM releases WHERE app=?", (app,))

    # -- containers stopped on purpose ---------------------------------------------------
    def mark_stopped(self, container_id, stopped):
        if stopped:
            return self._w("INSERT OR IGNORE INTO stopped VALUES (?,?)", (container_id, clock())) > 0
        return self._w("DELETE FROM stopped WHERE id=?", (container_id,)) > 0

    def list_stopped(self):
        return {r["id"] for r in self._q("SELECT id FROM stopped")}

    # -- edge certificates ------------------------------------------------------------
    def put_certificate(self, cert):
        check_sealed_key(cert)
        return from_dict(Certificate, self._put_doc("certificates", "hostname", cert))

    def get_certificate(self, hostname):
        rows = self._q("SELECT doc FROM certificates WHERE hostname=?", (hostname,))
        return from_dict(Certificate, json.loads(rows[0]["doc"])) if rows else None

    def list_certificates(self):
        return [from_dict(Certificate, json.loads(r["doc"]))
                for r in self._q("SELECT doc FROM certificates ORDER BY hostname")]

    def delete_certificate(self, hostname):
        return self._w("DELETE FROM certificates WHERE hostname=?", (hostname,)) > 0

    # -- events -----------------------------------------------------------------------
    def add_event(self, event):
        doc = to_dict(event)
        doc["time"] = doc["time"] or clock()
        doc["id"] = doc["id"] or event_id(doc["time"])
        self._w("INSERT INTO events VALUES (?,?,?,?,?,?,?)",
                (doc["id"], doc["time"], doc["type"], doc["tag"], doc["app"], doc["host"], json.dumps(doc)))
        return from_dict(Event, doc)

    def list_events(self, *, type=None, tag=None, app=None, host=None, since=None, until=None, limit=100):
        where, args = event_filters(type, tag, app, host)
        if since is not None:
            where.append("time>=?")
            args.append(since)
        if until is not None:
            where.append("time<?")
            args.append(until)
        sql = "SELECT doc FROM events" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [from_dict(Event, json.loads(r["doc"])) for r in self._q(sql, tuple(args))]

    def delete_events(self, before):
        return self._w("DELETE FROM events WHERE time<?", (before,))

    def trim_events(self, keep):
        # ids sort by time: every id up to the (keep+1)-th newest goes (none when there are fewer)
        return self._w("DELETE FROM events WHERE id<=(SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)",
                       (max(int(keep), 0),))

    def follow_events(self, *, type=None, tag=None, app=None, host=None):
        return EventPoll(self, {"type": type, "tag": tag, "app": app, "host": host}, self.poll_interval)

    def ping(self):
        start = time.perf_counter()
        self._q("SELECT 1")
        return time.perf_counter() - start

    def close(self):
        with self._lock:
            self._db.close()
