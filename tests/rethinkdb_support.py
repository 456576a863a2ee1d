"""RethinkDB for the suite: one throwaway server per run, fresh databases on it, and the CI rule."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from paasops.store.rethinkdb_server import (
    BINARY_ENV,
    ThrowawayServer,
    cannot_run,
    find_binary,
)

REPO = Path(__file__).resolve().parents[1]
URL_ENV = "PAASOPS_RETHINKDB_URL"  # a server of your own instead of the throwaway one


def unavailable(env: Mapping[str, str] | None = None) -> str | None:
    """Why RethinkDB tests cannot run here (one line), or None when they can."""
    env = os.environ if env is None else env
    if env.get(URL_ENV):
        return None
    binary = find_binary(REPO)
    if binary is None:
        return (f"no RethinkDB server binary (set {BINARY_ENV}, put rethinkdb on PATH "
                f"or build ../shared/rethinkdb/rethinkdb)")
    return cannot_run(binary)


def start_server() -> ThrowawayServer:
    binary = find_binary(REPO)
    assert binary is not None, "call unavailable() first"
    return ThrowawayServer(binary).start()


def ci_failure(env: Mapping[str, str], binary_found: bool, skipped: int) -> str | None:
    """In CI (CI=true) with a server binary at hand, a skipped RethinkDB test fails the run."""
    if env.get("CI", "").lower() != "true" or not binary_found or not skipped:
        return None
    return (f"CI=true and a RethinkDB binary is present, but {skipped} RethinkDB test(s) were skipped: "
            "they must run in CI")


def new_database_url(server_url: str) -> str:
    """The same server with a database name no other run uses."""
    parts = urlsplit(server_url)
    return parts._replace(path=f"/paasops_test_{uuid.uuid4().hex[:8]}").geturl()


def _connect(url: str):
    from rethinkdb import RethinkDB

    r = RethinkDB()
    parts = urlsplit(url)
    return r, r.connect(host=parts.hostname, port=parts.port or 28015, timeout=10), parts.path.strip("/")


def empty_tables(url: str) -> None:
    """Delete every row of every table of the URL's database, in one round trip: the
    schema stays (creating a table costs ~0.3 s, emptying one a few ms)."""
    r, conn, db = _connect(url)
    with conn:
        if db in r.db_list().run(conn):
            r.db(db).table_list().for_each(lambda t: r.db(db).table(t).delete()).run(conn)


def drop_database(url: str) -> None:
    r, conn, db = _connect(url)
    with conn:
        if db in r.db_list().run(conn):
            r.db_drop(db).run(conn)
