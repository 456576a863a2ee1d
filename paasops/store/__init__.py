"""The state store: `open_store(url)` picks the backend (SQLite by default, or RethinkDB)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import UserInputError
from .base import Store
from .records import Account, App, Engine, Event, Role, Token

__all__ = ["Store", "Account", "App", "Engine", "Event", "Role", "Token", "open_store", "default_sqlite_path"]


def default_sqlite_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("paasops")) / "state.db"


def open_store(url: str | None = None) -> Store:
    """Open `sqlite:///abs/path`, `sqlite://rel/path`, `sqlite://` (default file) or
    `rethinkdb://[user[:password]@]host[:port][/db][?timeout=S]`."""
    url = url or "sqlite://"
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise UserInputError(f"unknown state URL {url!r}: use sqlite:///path or rethinkdb://host:port/db")
    if scheme == "sqlite":
        from .sqlite import SqliteStore

        return SqliteStore(rest or default_sqlite_path())
    if scheme == "rethinkdb":
        from .rethinkdb_store import RethinkStore

        parts = urlsplit(url)
        query = parse_qs(parts.query)
        return RethinkStore(
            host=parts.hostname or "localhost",
            port=parts.port or 28015,
            db=parts.path.strip("/") or "paasops",
            user=unquote(parts.username) if parts.username else "admin",
            password=unquote(parts.password) if parts.password else "",
            timeout=float(query.get("timeout", ["20"])[0]),
        )
    raise UserInputError(f"unknown state URL scheme {scheme!r} in {url!r}: use sqlite:// or rethinkdb://")
