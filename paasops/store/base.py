"""The state store interface every backend implements (and the contract tests check)."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Generic, Self, TypeVar

from .records import Account, ApiToken, App, AppChange, Certificate, Engine, Event, Release, Role, Token

T = TypeVar("T")


class Feed(ABC, Generic[T]):
    """Changes written after the feed opened (by any process), in the order written.

    `get` waits for the next one; iterating yields them until `close` (from any thread:
    iteration then ends within `wait` seconds). A feed raises StoreUnavailable when the
    store goes away; the caller opens a new one when it is back and catches up from the
    store (`list_events(since=...)`, `list_apps()`).
    """

    wait = 1.0  # seconds an iteration waits before looking whether the feed was closed

    def __init__(self) -> None:
        self.closed = False
        self._released = False
        self._reading = threading.Lock()

    @abstractmethod
    def _next(self, timeout: float | None) -> T | None:
        """The next change, or None when none came within `timeout` seconds (None: wait on)."""

    @abstractmethod
    def _release(self) -> None:
        """Free what the feed holds (a connection, a cursor); called once, by the reader."""

    def _release_once(self) -> None:
        if not self._released:
            self._released = True
            self._release()

    def get(self, timeout: float | None = None) -> T | None:
        """The next change, or None when none came within `timeout` seconds (None: wait on)."""
        with self._reading:
            try:
                return None if self.closed else self._next(timeout)
            finally:
                if self.closed:
                    self._release_once()

    def close(self) -> None:
        self.closed = True
        if self._reading.acquire(blocking=False):  # else the reader releases when it wakes
            try:
                self._release_once()
            finally:
                self._reading.release()

    def __iter__(self) -> Iterator[T]:
        try:
            while not self.closed:
                change = self.get(self.wait)
                if change is not None:
                    yield change
        finally:
            with self._reading:
                if self.closed:
                    self._release_once()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


EventFeed = Feed[Event]
AppFeed = Feed[AppChange]


class Store(ABC):
    """Accounts, roles, tokens, engines, events, apps (desired state) and their release history, edge certificates;
    feeds of new events and app changes; a ping for health checks.

    Conventions: `get_*` returns None when absent; `delete_*` returns whether something
    was deleted; `create_account` raises ConflictError on an existing name; `update_*`
    raises NotFoundError when absent. Timestamps are epoch seconds (float), set by the store
    when left at 0. Secrets never reach the store: it takes password and token hashes and
    refuses anything else with ValueError; an app's secrets and a
    certificate's private key only sealed (`records.check_sealed`, `records.check_sealed_key`).
    Backends are safe to use from several threads.
    """

    url: str = ""

    # -- accounts ---------------------------------------------------------------------
    @abstractmethod
    def create_account(self, name: str, password_hash: str, role: str, team: str | None = None) -> Account: ...

    @abstractmethod
    def get_account(self, name: str) -> Account | None: ...

    @abstractmethod
    def list_accounts(self) -> list[Account]:
        """Sorted by name."""

    @abstractmethod
    def delete_account(self, name: str) -> bool:
        """Also revokes the account's tokens."""

    @abstractmethod
    def update_password(self, name: str, password_hash: str) -> Account: ...

    @abstractmethod
    def set_role(self, name: str, role: str) -> Account: ...

    @abstractmethod
    def set_team(self, name: str, team: str | None) -> Account:
        """Put the account in `team` (None: in none)."""

    # -- roles ------------------------------------------------------------------------
    @abstractmethod
    def put_role(self, name: str, paths: list[str]) -> Role:
        """Create or replace the role's allowed API paths."""

    @abstractmethod
    def get_role(self, name: str) -> Role | None: ...

    @abstractmethod
    def list_roles(self) -> list[Role]:
        """Sorted by name."""

    @abstractmethod
    def delete_role(self, name: str) -> bool: ...

    # -- tokens -----------------------------------------------------------------------
    @abstractmethod
    def put_token(self, user: str, token_hash: str, expires_at: float) -> Token: ...

    @abstractmethod
    def find_token(self, token_hash: str, now: float | None = None) -> Token | None:
        """The token with this hash if it exists and has not expired at `now`."""

    @abstractmethod
    def list_tokens(self, user: str | None = None) -> list[Token]:
        """Oldest first; all users when `user` is None."""

    @abstractmethod
    def revoke_tokens(self, *, user: str | None = None, token_hash: str | None = None) -> int:
        """Revoke one token (by hash) or all of a user's; returns how many went."""

    @abstractmethod
    def purge_expired(self, now: float | None = None) -> int: ...

    # -- API tokens (long-lived, named, for jobs) ---------------------------------------
    @abstractmethod
    def put_api_token(self, token: ApiToken) -> ApiToken:
        """Store a new API token (its hash only); ConflictError when the name is taken. Sets created_at."""

    @abstractmethod
    def find_api_token(self, token_hash: str, now: float | None = None) -> ApiToken | None:
        """The API token with this hash unless it has expired at `now`."""

    @abstractmethod
    def list_api_tokens(self, user: str | None = None) -> list[ApiToken]:
        """Sorted by name; all users' when `user` is None."""

    @abstractmethod
    def delete_api_token(self, name: str) -> bool: ...

    # -- engines ----------------------------------------------------------------------
    @abstractmethod
    def put_engine(self, engine: Engine) -> Engine:
        """Insert or replace by id; keeps the first created_at."""

    @abstractmethod
    def get_engine(self, engine_id: str) -> Engine | None: ...

    @abstractmethod
    def list_engines(self) -> list[Engine]:
        """Sorted by id."""

    @abstractmethod
    def delete_engine(self, engine_id: str) -> bool: ...

    # -- events -----------------------------------------------------------------------
    @abstractmethod
    def add_event(self, event: Event) -> Event:
        """Store the event; fills `time` (now) and `id` (sortable by time) when empty."""

    @abstractmethod
    def list_events(
        self,
        *,
        type: str | None = None,
        tag: str | None = None,
        app: str | None = None,
        host: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = 100,
    ) -> list[Event]:
        """Newest first; `since <= time < until`; `limit=None` for all."""

    @abstractmethod
    def delete_events(self, before: float) -> int:
        """Drop events older than `before` (retention); returns how many."""

    @abstractmethod
    def trim_events(self, keep: int) -> int:
        """Drop all but the newest `keep` events (retention by count); returns how many."""

    @abstractmethod
    def follow_events(
        self, *, type: str | None = None, tag: str | None = None, app: str | None = None, host: str | None = None
    ) -> EventFeed:
        """A feed of the matching events written from now on, by this process or another
        (RethinkDB: a changefeed; SQLite: polls the file every `poll_interval` seconds)."""

    # -- apps (desired state) ---------------------------------------------------------
    @abstractmethod
    def put_app(self, app: App) -> App:
        """Insert or replace by name; keeps the first created_at. ValueError when a secret is not sealed."""

    @abstractmethod
    def get_app(self, name: str) -> App | None: ...

    @abstractmethod
    def list_apps(self) -> list[App]:
        """Sorted by name."""

    @abstractmethod
    def delete_app(self, name: str) -> bool: ...

    @abstractmethod
    def follow_apps(self) -> AppFeed:
        """A feed of the apps put or deleted from now on, by this process or another: the
        desired-state changes the service reacts to (RethinkDB: a changefeed; SQLite: polls)."""

    # -- release history (one row per deployment attempt of an app) ----------------------
    @abstractmethod
    def put_release(self, release: Release) -> Release:
        """Insert or replace by (app, deployment_id), kept as given; ValueError when a secret is not sealed."""

    @abstractmethod
    def get_release(self, app: str, deployment_id: str) -> Release | None: ...

    @abstractmethod
    def list_releases(self, app: str, limit: int | None = None) -> list[Release]:
        """App `app`'s releases, newest (by started_at) first; `limit=None` for all."""

    @abstractmethod
    def trim_releases(self, app: str, keep: int) -> int:
        """Drop all but app `app`'s newest `keep` releases; returns how many went."""

    @abstractmethod
    def delete_releases(self, app: str) -> int:
        """Drop app `app`'s whole history; returns how many went."""

    # -- containers stopped on purpose (`paasops stop`: self-healing leaves them stopped) ------
    @abstractmethod
    def mark_stopped(self, container_id: str, stopped: bool) -> bool:
        """Remember (True) or forget (False) that container `container_id` was stopped on purpose; whether
        that changed anything."""

    @abstractmethod
    def list_stopped(self) -> set[str]:
        """The ids of the containers marked stopped on purpose."""

    # -- edge certificates (one per hostname) --------------------------------------------
    @abstractmethod
    def put_certificate(self, cert: Certificate) -> Certificate:
        """Insert or replace by hostname; keeps the first created_at, sets updated_at. ValueError when its
        private key is not sealed (`records.check_sealed_key`)."""

    @abstractmethod
    def get_certificate(self, hostname: str) -> Certificate | None: ...

    @abstractmethod
    def list_certificates(self) -> list[Certificate]:
        """Sorted by hostname."""

    @abstractmethod
    def delete_certificate(self, hostname: str) -> bool: ...

    # -- lifecycle --------------------------------------------------------------------
    @abstractmethod
    def ping(self) -> float:
        """Seconds a trivial round trip to the store takes; raises StoreUnavailable (naming
        where) when it cannot be reached. For health checks."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
