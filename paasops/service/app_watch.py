"""React to desired-state changes another process writes to a shared store: reconcile that app."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..errors import ConflictError, PaasopsError
from ..store.base import AppFeed, Store
from ..store.records import App, AppChange
from .feed_loop import follow_reopening

log = logging.getLogger(__name__)
RETRY = 1.0  # seconds between attempts to reopen the feed while the store is away
BUSY_RETRIES = 5  # a reconcile refused as busy (another run, a deploy of the app) is tried again this often


def desired(app: App | None) -> tuple | None:
    """What identifies a desired state: the same tuple means nothing to do."""
    return None if app is None else (app.spec_hash, app.count, app.deployment_id)


class AppWatcher:
    """Follows `store.follow_apps()` on one thread. A change this process did not write itself (the
    AppManager tells, by `written`) triggers `reconcile(name)`: the app's replicas converge on the new
    desired count and spec without waiting for the cron reconcile. The AppManager reads the desired
    state from the store on every operation, so it sees the change as soon as it is written.

    Safe by construction: reconcile runs under its lock and the app's own lock (a busy one is
    tried again a few times, then left to the cron reconcile), one app at a time, on this thread.
    After an outage the feed is reopened and every app changed meanwhile is reconciled.
    """

    def __init__(self, store: Store, reconcile: Callable[[str], object], written: Callable[[str], tuple | None],
                 *, retry: float = RETRY):
        self.store = store
        self.reconcile = reconcile
        self.written = written
        self.retry = retry
        self.reacted = 0  # reconciles triggered (for tests and logs)
        self._stop = threading.Event()
        self._feed: AppFeed | None = None
        self._known: dict[str, tuple | None] = {}
        self._opened = False  # a feed was open once: a later open catches up on what changed meanwhile
        self._thread = threading.Thread(target=self._run, daemon=True, name="app-watch")
        self.ready = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._feed is not None:
            self._feed.close()

    def _run(self) -> None:
        follow_reopening("desired-state", self._open, self.on_change, stop=self._stop, ready=self.ready,
                         retry=self.retry)

    def _open(self, _reopened: bool) -> AppFeed:
        """The feed, then the apps as they are; after the first open, every app changed meanwhile reacts."""
        self._feed = feed = self.store.follow_apps()
        current = {a.name: desired(a) for a in self.store.list_apps()}
        if self._opened:  # changed while the feed was away
            for name in sorted(set(current) | set(self._known)):
                self.on_change(AppChange(name, None), state=current.get(name))
        self._known = current
        self._opened = True
        return feed

    def on_change(self, change: AppChange, *, state: tuple | None = None) -> bool:
        """Reconcile `change.name` if its desired state is new to this process; returns whether it did."""
        state = desired(change.app) if change.app is not None else state
        name = change.name
        unchanged = name in self._known and self._known[name] == state
        self._known[name] = state
        if unchanged or state == self.written(name):  # nothing new, or this process wrote it
            return False
        log.info("app %s changed in the store by another process: reconciling it", name)
        for _ in range(BUSY_RETRIES):
            try:
                self.reconcile(name)
                self.reacted += 1
                return True
            except ConflictError as exc:  # another run or a deploy holds it: try again shortly
                log.info("reconcile of %s busy (%s); retrying", name, exc)
                if self._stop.wait(self.retry):
                    return False
            except PaasopsError as exc:
                log.warning("reconcile of %s after a change in the store: %s", name, exc)
                return False
        log.warning("reconcile of %s stayed busy; the next cron reconcile converges it", name)
        return False
