"""The service's open follows: their caps, their own small thread pool, and ending them all at shutdown."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from ..errors import RateLimited
from .stream_limits import StreamLimiter, StreamPolicy, wait_budget

log = logging.getLogger(__name__)


class DaemonPool(Executor):
    """A bounded pool of daemon threads for blocking stream reads. Unlike ThreadPoolExecutor's (joined at
    interpreter exit), a thread stuck on a silent socket can never hold the process's exit."""

    def __init__(self, workers: int, name: str = "stream"):
        self.workers, self.name = workers, name
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        self._work.put((future, fn, args, kwargs))
        if not self._idle.acquire(blocking=False):
            with self._lock:
                if len(self._threads) < self.workers:
                    thread = threading.Thread(target=self._worker, daemon=True,
                                              name=f"{self.name}-{len(self._threads)}")
                    self._threads.append(thread)
                    thread.start()
        return future

    def _worker(self) -> None:
        while True:
            future, fn, args, kwargs = self._work.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # handed to whoever awaits the future
                    future.set_exception(exc)
            self._idle.release()


class Follow:
    """One open follow: it holds a place under the caps until `close()`; `end()` asks it to stop (its
    closers run: e.g. closing the Docker response unblocks a read on a quiet container)."""

    def __init__(self, streams: Streams, account: str, kind: str):
        self.streams, self.account, self.kind = streams, account, kind
        self.started = self.last_output = time.monotonic()
        self.ended = threading.Event()
        self._closers: list[Callable[[], object]] = []
        self._closed = False
        self._lock = threading.Lock()

    def on_end(self, closer: Callable[[], object]) -> None:
        """Run `closer` when the follow ends (at once if it has ended already)."""
        with self._lock:
            if not self.ended.is_set():
                self._closers.append(closer)
                return
        _run(closer)

    def output(self) -> None:
        self.last_output = time.monotonic()

    def wait_budget(self) -> float | None:
        """Seconds to wait for the next output before ending (see stream_limits.wait_budget)."""
        return wait_budget(self.streams.policy, started=self.started, last_output=self.last_output,
                           now=time.monotonic())

    def end(self) -> None:
        with self._lock:
            if self.ended.is_set():
                return
            self.ended.set()
            closers, self._closers = self._closers, []
        for closer in closers:
            _run(closer)

    def close(self) -> None:
        """End, and give the place back (idempotent)."""
        self.end()
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.streams.forget(self)


def _run(closer: Callable[[], object]) -> None:
    try:
        closer()
    except Exception as exc:  # closing a broken stream: nothing more to free
        log.debug("closing a stream: %s", exc)


class Streams:
    """Opens follows under the caps (429 beyond them, before any work), runs their blocking reads on a
    pool of their own (never the API's threadpool), and ends them all when the service stops."""

    def __init__(self, policy: StreamPolicy | None = None):
        self.policy = policy or StreamPolicy()
        self.limiter = StreamLimiter(self.policy)
        # one read in flight per follow, plus a few whose closed socket is still unwinding
        self.pool = DaemonPool(self.policy.total + 8)
        self._open: set[Follow] = set()
        self._lock = threading.Lock()
        self.stopping = False

    def open(self, account: str, kind: str) -> Follow:
        """A new follow for `account`, or RateLimited (429) past a cap or while the service stops."""
        self.limiter.acquire(account, kind)
        follow = Follow(self, account, kind)
        with self._lock:  # under the lock end_all takes: a follow is either ended by it or refused here
            if not self.stopping:
                self._open.add(follow)
                return follow
        self.limiter.release(account)
        raise RateLimited("the service is shutting down: try again in a moment", where=kind,
                          retry_after=self.policy.retry_after)

    def forget(self, follow: Follow) -> None:
        with self._lock:
            if follow not in self._open:
                return
            self._open.discard(follow)
        self.limiter.release(follow.account)

    @property
    def open_count(self) -> int:
        return len(self._open)

    def end_all(self) -> None:
        """Refuse new follows and end the open ones (an open stream would hold the server's shutdown)."""
        with self._lock:
            self.stopping = True
            follows = list(self._open)
        for follow in follows:
            follow.end()

    def stop(self) -> None:
        self.end_all()
