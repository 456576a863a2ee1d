"""The service's event log: what happened (deploys, container operations, health), kept in the store."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from ..errors import StoreUnavailable
from ..store.base import Store
from ..store.records import Event, event_id

log = logging.getLogger(__name__)
BUFFERED = 1000  # events kept in memory while the store is away; older ones are dropped (and counted)


class EventLog:
    """Records one event per operation; the one seam every part of the service records through.

    While the store is unavailable, events are kept in memory (the last `BUFFERED`; the drops
    counted and logged) and written, in order, by the first record or `flush` after it is back:
    background writers (the Docker event collector, heartbeat transitions) never fail on an outage.
    """

    def __init__(self, store: Store, *, buffered: int = BUFFERED):
        self.store = store
        self.pending: deque[Event] = deque(maxlen=buffered)
        self.dropped = 0
        self._lock = threading.Lock()

    def record(self, type_: str, *, tag: str = "api", user: str | None = None, **fields: Any) -> Event:
        """Store an event of kind `type_` (tag: who caused it, e.g. api, health, docker) and return it."""
        at = fields.pop("time", None) or time.time()  # Docker events keep the engine's time
        event = Event(type=type_, tag=tag, user=user, time=at, id=event_id(at), **fields)
        if not self.pending:  # the usual case: no lock, so many threads write at once
            try:
                return self.store.add_event(event)
            except StoreUnavailable as exc:
                log.warning("store unavailable (%s): keeping events in memory (up to %d) until it is back",
                            exc, self.pending.maxlen)
        with self._lock:
            self._flush()
            if not self.pending:  # it is back
                try:
                    return self.store.add_event(event)
                except StoreUnavailable:
                    pass
            self._keep(event)
            return event

    def flush(self) -> int:
        """Write the events kept during an outage; returns how many are still waiting."""
        with self._lock:
            self._flush()
            return len(self.pending)

    def _keep(self, event: Event) -> None:
        if len(self.pending) == self.pending.maxlen:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("store unavailable: %d event(s) dropped so far (buffer of %d full)",
                            self.dropped, self.pending.maxlen)
        self.pending.append(event)

    def _flush(self) -> None:
        while self.pending:
            try:
                self.store.add_event(self.pending[0])
            except StoreUnavailable:
                return
            self.pending.popleft()
        if self.dropped:
            log.warning("store back: %d event(s) recorded during the outage were dropped", self.dropped)
            self.dropped = 0
