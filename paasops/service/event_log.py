"""The service's event log: what happened (deploys, container operations, health), kept in the store."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ..auth.ownership import Who, event_visible, is_admin, may_access
from ..errors import StoreUnavailable
from ..store.base import Store
from ..store.records import Event, event_id
from ..vocabulary import REDACTED

log = logging.getLogger(__name__)
BUFFERED = 1000  # events kept in memory while the store is away; older ones are dropped (and counted)
MIN_HIDDEN = 4  # a secret shorter than this is not searched for (it would blot out ordinary words)
PAGES = 20  # pages of events a non-admin's listing reads, at most, to fill its limit with its own events


def events_for(store: Store, who: Who | None, *, limit: int | None = 100, **filters: Any) -> list[Event]:
    """`store.list_events(**filters)` as `who` may see them (auth.ownership.event_visible), newest first."""
    if is_admin(who):
        return store.list_events(limit=limit, **filters)
    apps = {a.name for a in store.list_apps() if may_access(who, a.owner, a.team)}
    out: list[Event] = []
    for _ in range(PAGES):
        page = store.list_events(limit=limit, **filters)
        out += [e for e in page if event_visible(who, e.app, e.user, apps)]
        if limit is None or len(out) >= limit or len(page) < limit:
            break
        filters["until"] = page[-1].time  # the next page: older than this one's oldest
    return out[:limit] if limit is not None else out


def event_filter(store: Store, who: Who | None) -> Callable[[Event], bool]:
    """Whether `who` may see an event as it comes (a stream): its app's owner is read when it comes."""
    if is_admin(who):
        return lambda event: True

    def seen(event: Event) -> bool:
        try:
            app = store.get_app(event.app) if event.app else None
        except Exception:  # the store is away: its owner unknown, the event is not shown (deny by default)
            return False
        apps = {app.name} if app is not None and may_access(who, app.owner, app.team) else set()
        return event_visible(who, event.app, event.user, apps)

    return seen


def scrub(value: Any, hidden: Iterable[str]) -> Any:
    """`value` (a string, or lists and mappings of them) with every hidden string shown as REDACTED."""
    if isinstance(value, str):
        for secret in hidden:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: scrub(v, hidden) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, hidden) for v in value]
    return value


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
        self._hidden: frozenset[str] = frozenset()  # secret values no event may carry (an engine error could)

    def hide(self, values: Iterable[str]) -> None:
        """Never record these strings (the values of app secrets this service has handled): REDACTED instead."""
        more = {v for v in values if len(v) >= MIN_HIDDEN}
        if not more <= self._hidden:
            with self._lock:
                self._hidden = frozenset(self._hidden | more)

    def record(self, type_: str, *, tag: str = "api", user: str | None = None, **fields: Any) -> Event:
        """Store an event of kind `type_` (tag: who caused it, e.g. api, health, docker) and return it."""
        at = fields.pop("time", None) or time.time()  # Docker events keep the engine's time
        if self._hidden:  # the longest first, so a secret inside another is not replaced before it
            hidden = sorted(self._hidden, key=len, reverse=True)
            fields = {k: scrub(v, hidden) for k, v in fields.items()}
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
