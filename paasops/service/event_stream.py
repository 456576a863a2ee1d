"""One follower of the store's event feed per service, fanned out to every API event stream."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..store.base import EventFeed, Store
from ..store.records import Event, id_bound
from .feed_loop import follow_reopening

log = logging.getLogger(__name__)

Deliver = Callable[[Event], None]
CATCH_UP_LOOKBACK = 5.0  # seconds before the last event seen that a reopened feed reads back
RETRY = 1.0  # seconds between attempts to reopen the feed while the store is away


@dataclass(eq=False)
class Subscriber:
    """A client of the hub: the events matching `filters` go to `deliver` (called on the hub's thread)."""

    deliver: Deliver
    filters: dict[str, str | None] = field(default_factory=dict)
    end: Callable[[], None] = lambda: None  # asked to end (the service shuts down)

    def wants(self, event: Event) -> bool:
        return all(value is None or getattr(event, key) == value for key, value in self.filters.items())


class EventHub:
    """Follows every new event of the store on one thread (RethinkDB: one changefeed; SQLite: the
    store's poll) and hands each to the subscribers that want it. When the feed fails (the store
    went away) it reopens it when the store is back and catches up with `list_events(since=...)`,
    skipping ids it already handed out, so a subscriber sees each event once and none is lost."""

    def __init__(self, store: Store, *, retry: float = RETRY, lookback: float = CATCH_UP_LOOKBACK,
                 on_reopen: Callable[[], object] | None = None):
        self.store = store
        self.retry, self.lookback = retry, lookback
        self.on_reopen = on_reopen
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()  # the feed is open: nothing written from now on is missed
        self._thread: threading.Thread | None = None
        self._feed: EventFeed | None = None
        self._seen: dict[str, float] = {}  # ids handed out lately -> their time
        self.last_time = self.opened = time.time()  # opened: nothing written before is handed out

    def subscribe(self, deliver: Deliver, filters: dict[str, str | None] | None = None, *,
                  end: Callable[[], None] | None = None, wait: float = 5.0) -> Subscriber:
        """Start delivering matching events; starts the follower on first use and waits (up to `wait`
        seconds) until its feed is open, so what is written after this returns reaches `deliver`."""
        subscriber = Subscriber(deliver, dict(filters or {}), end or (lambda: None))
        with self._lock:
            self._subscribers.add(subscriber)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="event-hub")
                self._thread.start()
        self._ready.wait(wait)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def end_streams(self) -> None:
        """Ask every subscriber to end (an open HTTP stream would hold the server's shutdown)."""
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber.end()

    def stop(self) -> None:
        self.end_streams()
        self._stop.set()
        feed = self._feed
        if feed is not None:
            feed.close()

    # -- the follower ----------------------------------------------------------------------
    def _run(self) -> None:
        self.last_time = self.opened = time.time()
        follow_reopening("event", self._open, self._publish, stop=self._stop, ready=self._ready, retry=self.retry)

    def _open(self, reopened: bool) -> EventFeed:
        self._feed = feed = self.store.follow_events()
        if reopened:
            self._catch_up()
        return feed

    def _catch_up(self) -> None:
        """Events written while the feed was away (the new feed is open already: no gap)."""
        missed = self.store.list_events(since=max(self.opened, self.last_time - self.lookback), limit=None)
        for event in reversed(missed):  # oldest first
            self._publish(event)
        if self.on_reopen is not None:
            try:
                self.on_reopen()
            except Exception as exc:  # e.g. the store went again: the next reopen retries
                log.warning("after the event feed reopened: %s", exc)

    def _publish(self, event: Event) -> None:
        if event.id in self._seen:
            return
        self._seen[event.id] = event.time
        self.last_time = max(self.last_time, event.time)
        if len(self._seen) > 1000:  # forget ids too old for a catch-up to read again
            bound = id_bound(self.last_time - 2 * self.lookback)
            self._seen = {i: t for i, t in self._seen.items() if i >= bound}
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            if subscriber.wants(event):
                try:
                    subscriber.deliver(event)
                except Exception as exc:  # one broken client must not starve the others
                    log.debug("event delivery failed: %s", exc)
