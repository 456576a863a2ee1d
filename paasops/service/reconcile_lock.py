"""The lock that keeps two reconcile runs from overlapping: a key in etcd, or flock on a state-dir file."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import IO, Any

from ..errors import ConflictError, ConnectionFailed

log = logging.getLogger(__name__)
LOCK_NAME = "paasops-reconcile"
BUSY = "another reconcile is running"


class FileLock:
    """flock(LOCK_EX | LOCK_NB) on one file: the kernel drops it when its holder dies, so it never goes stale."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._file: IO[str] | None = None

    def __enter__(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ConflictError(f"{BUSY} (it holds the lock file {self.path})", where="reconcile") from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")  # who holds it, for whoever looks
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()


class EtcdLock:
    """An etcd lock (pyetcd's `lock(name, ttl)`) taken without waiting, its lease refreshed while held.

    The lease outlives a crashed holder by at most `ttl` seconds. When etcd cannot be reached the
    run is refused: two services sharing the engines must not reconcile blindly at once.
    """

    def __init__(self, endpoints: list[tuple[str, int]], name: str = LOCK_NAME, ttl: int = 30,
                 timeout: float = 3.0, tls: dict[str, str | None] | None = None):
        self.endpoints = endpoints
        self.tls = tls or {}  # pyetcd's ca_cert, cert_cert, cert_key
        self.name, self.ttl, self.timeout = name, ttl, timeout
        self._client = None
        self._lock: Any = None  # pyetcd's Lock, made when taken
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> EtcdLock:
        import pyetcd

        problems = []
        for host, port in self.endpoints:
            client = None
            try:
                client = pyetcd.client(host, port, timeout=self.timeout, **self.tls)
                lock = client.lock(self.name, ttl=self.ttl)
                acquired = lock.acquire(timeout=0)
            except Exception as exc:  # any etcd or gRPC failure: try the next endpoint
                problems.append(f"{host}:{port}: {type(exc).__name__}")
                if client is not None:
                    client.close()
                continue
            if not acquired:
                client.close()
                raise ConflictError(f"{BUSY} (it holds the etcd lock {lock.key})", where="reconcile")
            self._client, self._lock = client, lock
            self._stop.clear()
            self._thread = threading.Thread(target=self._keep_alive, name="paasops-reconcile-lock", daemon=True)
            self._thread.start()
            return self
        raise ConnectionFailed(f"cannot take the reconcile lock: etcd unreachable ({'; '.join(problems)})",
                               where="reconcile")

    def _keep_alive(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self._lock.refresh()
            except Exception as exc:  # etcd away for a moment: the lease may still be alive
                log.warning("could not refresh the reconcile lock: %s", exc)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        client, lock, self._client, self._lock = self._client, self._lock, None, None
        if lock is not None:
            try:
                lock.release()
                if lock.lease is not None:
                    lock.lease.revoke()
            except Exception as error:  # the lease then lapses by itself within ttl
                log.warning("could not release the reconcile lock: %s", error)
        if client is not None:
            client.close()
