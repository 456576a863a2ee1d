"""One `serve` per state: an flock beside a SQLite database, a lease document in a RethinkDB one."""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import ConflictError, PaasopsError

if TYPE_CHECKING:
    from .rethinkdb_store import RethinkStore

log = logging.getLogger(__name__)
LEASE_NAME = "serve"
LEASE_TTL = 15.0  # seconds a serve's lease on a RethinkDB state outlives its last renewal


class Exclusive(Protocol):
    def acquire(self) -> None: ...
    def release(self) -> None: ...


def holder() -> str:
    """This process, as another one is told who holds the state."""
    return f"pid {os.getpid()} on {socket.gethostname()}"


class StateLock:
    """Held while a service uses a SQLite state; a second holder is refused naming the first (pid@host).

    The kernel drops the lock when the process dies, SIGKILL included, so a crash never leaves it stale.
    A RethinkDB state has a lease instead (`StateLease`).
    """

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    @classmethod
    def for_url(cls, url: str | None) -> Exclusive | None:
        """The lock for a `sqlite://` state URL, the lease for a `rethinkdb://` one; None for others."""
        from . import default_sqlite_path

        scheme, _, rest = (url or "sqlite://").partition("://")
        if scheme == "rethinkdb":
            return StateLease(url or "")
        if scheme != "sqlite":
            return None
        db = Path(rest) if rest else default_sqlite_path()
        return cls(db.with_name(db.name + ".serve.lock"))

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            first = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ConflictError(f"another paasops serve ({first}) already uses this state "
                                f"({self.path}); stop it first", where="state") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


class StateLease:
    """Held while a service uses a RethinkDB state: a lease document (owner, token, expiry by the server's
    clock) taken at start, renewed every third of its life, given up at stop. A second serve is refused
    naming the holder; a lease its holder stopped renewing (killed, cut off) lapses and is taken over."""

    def __init__(self, url: str, ttl: float = LEASE_TTL):
        self.url, self.ttl = url, ttl
        self.token = uuid.uuid4().hex
        self._store: RethinkStore | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        from . import open_store
        from .rethinkdb_store import RethinkStore

        store = open_store(self.url)
        if not isinstance(store, RethinkStore):
            raise TypeError(f"a lease is for RethinkDB states, not {self.url}")
        self._store = store
        lease = store.take_lease(LEASE_NAME, holder(), self.token, self.ttl)
        if lease.get("token") != self.token:
            store.close()
            left = max(0.0, float(lease.get("expires", 0)) - float(lease.get("server_time", 0)))
            raise ConflictError(f"another paasops serve ({lease.get('owner', 'unknown')}) already uses this state "
                                f"({self.url}); stop it first (its lease lapses {left:.0f} s after it stops "
                                f"renewing it)", where="state")
        self._thread = threading.Thread(target=self._renew, name="state-lease", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        store = self._store
        assert store is not None
        while not self._stop.wait(self.ttl / 3):
            try:
                lease = store.take_lease(LEASE_NAME, holder(), self.token, self.ttl)
            except PaasopsError as exc:  # the store is away: renew when it is back (the lease may lapse)
                log.warning("renewing this serve's lease on %s: %s", self.url, exc)
                continue
            if lease.get("token") != self.token:
                log.error("this serve lost its lease on %s to %s (it was not renewed in time)", self.url,
                          lease.get("owner", "another serve"))

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._store is not None:
            try:
                self._store.release_lease(LEASE_NAME, self.token)
            except PaasopsError as exc:  # it lapses by itself
                log.warning("giving up this serve's lease on %s: %s", self.url, exc)
            self._store.close()
            self._store = None

