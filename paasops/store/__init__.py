"""The state store: `open_store(url)` picks the backend (SQLite by default, or RethinkDB)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import UserInputError
from .base import AppFeed, EventFeed, Feed, Store
from .records import Account, App, AppChange, Certificate, Engine, Event, Release, Role, Token

__all__ = [
    "Account",
    "App",
    "AppChange",
    "AppFeed",
    "Certificate",
    "Engine",
    "Event",
    "EventFeed",
    "Feed",
    "Release",
    "Role",
    "Store",
    "Token",
    "default_sqlite_path",
    "open_store",
    "rethinkdb_options",
]


def default_sqlite_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("paasops")) / "state.db"


def open_store(url: str | None = None) -> Store:
    """Open `sqlite:///abs/path`, `sqlite://rel/path`, `sqlite://` (default file) or
    `rethinkdb://[user[:password]@]host[:port][/db][?timeout=S&ca_certs=PEM&auth_key=KEY]`."""
    url = url or "sqlite://"
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise UserInputError(f"unknown state URL {url!r}: use sqlite:///path or rethinkdb://host:port/db")
    if scheme == "sqlite":
        from .sqlite import SqliteStore

        return SqliteStore(rest or default_sqlite_path())
    if scheme == "rethinkdb":
        from .rethinkdb_store import RethinkStore

        return RethinkStore(**rethinkdb_options(url))
    raise UserInputError(f"unknown state URL scheme {scheme!r} in {url!r}: use sqlite:// or rethinkdb://")


def rethinkdb_options(url: str) -> dict:
    """The driver's connection options from a `rethinkdb://` URL: user and password (or the
    pre-2.3 `auth_key`, which the driver takes as the admin password), `timeout` in seconds,
    and TLS by `ca_certs` (the CA that signed the server's certificate; the host name is checked)."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"timeout", "ca_certs", "auth_key"}
    if unknown:
        raise UserInputError(f"unknown option(s) {', '.join(sorted(unknown))} in {url!r}: "
                             "use timeout, ca_certs or auth_key")
    password = unquote(parts.password) if parts.password else ""
    if query.get("auth_key"):
        if password:
            raise UserInputError(f"give a password or an auth_key in {url!r}, not both")
        password = query["auth_key"]
    options = {
        "host": parts.hostname or "localhost",
        "port": parts.port or 28015,
        "db": parts.path.strip("/") or "paasops",
        "user": unquote(parts.username) if parts.username else "admin",
        "password": password,
        "timeout": float(query.get("timeout", "20")),
    }
    if query.get("ca_certs"):
        options["ssl"] = {"ca_certs": query["ca_certs"]}
    return options
