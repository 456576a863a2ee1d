"""A deploy gives a host up the moment it is down or suspect: queued starts re-placed, in-flight ones abandoned."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TypeVar

from ..errors import ConnectionFailed
from ..vocabulary import DOWN, SUSPECT
from .engine import EngineHandle

T = TypeVar("T")
GIVEN_UP = frozenset({DOWN, SUSPECT})  # degraded is not: it still answers, and its starts may just be slow


class HostLost(ConnectionFailed):
    """The host went down or suspect (or was removed) while a replica waited for it or started on it."""


class HostGuard:
    """Waits on one host's slot or call while watching its status (every `poll` seconds)."""

    def __init__(self, engines: Callable[[], Mapping[str, EngineHandle]], poll: float = 0.1):
        self.engines, self.poll = engines, poll

    def lost(self, host: str) -> str | None:
        """Why `host` takes no more replicas of this deploy, or None while it may."""
        handle = self.engines().get(host)
        if handle is None:
            return f"engine {host} was removed"
        return f"{host} is {handle.status}" if handle.status in GIVEN_UP else None

    @contextmanager
    def slot(self, host: str, semaphore: threading.Semaphore) -> Iterator[None]:
        """Hold one of `host`'s start slots; HostLost at once if the host is lost while queued for it."""
        while not semaphore.acquire(timeout=self.poll):
            why = self.lost(host)
            if why:
                raise HostLost(f"{why}: queued replica placed elsewhere", where=f"engine {host}")
        try:
            yield
        finally:
            semaphore.release()

    def call(self, host: str, fn: Callable[[], T]) -> T:
        """`fn()`'s result (or its error); HostLost as soon as `host` is lost meanwhile. The call itself
        goes on in the background until the engine's timeout: whatever it started there (its reply lost)
        is found by its labels when the host returns, and reconcile keeps one replica per index."""
        box: dict[str, object] = {}
        done = threading.Event()

        def run() -> None:
            try:
                box["value"] = fn()
            except BaseException as exc:  # handed to the caller, or dropped once it gave up
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=run, name=f"start-{host}", daemon=True).start()
        started = time.monotonic()
        while not done.wait(self.poll):
            why = self.lost(host)
            if why:
                raise HostLost(f"{why}: gave up waiting after {time.monotonic() - started:.1f}s "
                               f"(a copy started there is found when it returns)", where=f"engine {host}")
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box["value"]  # type: ignore[return-value]
