"""One `serve` per state: an flock on a file beside the SQLite database, naming the holder."""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from ..errors import ConflictError


class StateLock:
    """Held while a service uses a SQLite state; a second holder is refused naming the first (pid@host).

    The kernel drops the lock when the process dies, SIGKILL included, so a crash never leaves it stale.
    RethinkDB states are not locked (several services on one RethinkDB need the HA work).
    """

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    @classmethod
    def for_url(cls, url: str | None) -> StateLock | None:
        """The lock for a `sqlite://` state URL; None for other stores."""
        from . import default_sqlite_path

        scheme, _, rest = (url or "sqlite://").partition("://")
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
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ConflictError(f"another paasops serve ({holder}) already uses this state "
                                f"({self.path}); stop it first", where="state") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None
