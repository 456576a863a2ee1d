"""Event retention: events older than a maximum age, or beyond a maximum count, are pruned in the background."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from ..store.base import Store

log = logging.getLogger(__name__)
DAY = 86400.0


@dataclass(frozen=True)
class RetentionPolicy:
    max_age: float = 30 * DAY  # seconds an event is kept (0: no age limit)
    max_count: int = 100_000  # events kept, newest first (0: no count limit)
    interval: float = 3600.0  # seconds between two prunings


def prune_events(store: Store, policy: RetentionPolicy, now: float | None = None) -> int:
    """Drop the events `policy` no longer keeps; returns how many went."""
    now = time.time() if now is None else now
    gone = store.delete_events(before=now - policy.max_age) if policy.max_age > 0 else 0
    if policy.max_count > 0:
        gone += store.trim_events(policy.max_count)
    return gone


class EventRetention:
    """A daemon thread pruning the store's events every `policy.interval` seconds (first at start)."""

    def __init__(self, store: Store, policy: RetentionPolicy):
        self.store = store
        self.policy = policy
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None or (self.policy.max_age <= 0 and self.policy.max_count <= 0):
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="paasops-event-retention", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                gone = prune_events(self.store, self.policy)
                if gone:
                    log.info("event retention: %d events pruned", gone)
            except Exception as exc:  # a store hiccup: try again next round
                log.warning("event retention: %s", exc)
            self._stop.wait(self.policy.interval)
