"""Read a store feed on a thread for as long as the service runs: reopened after the store went away."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

from ..errors import StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


def follow_reopening(what: str, open_feed: Callable[[bool], Iterable[T]], on_item: Callable[[T], object], *,
                     stop: threading.Event, ready: threading.Event, retry: float) -> None:
    """Until `stop`: `open_feed(reopened)` (which catches up on what was missed when `reopened`), set
    `ready`, hand every item to `on_item`. A lost store clears `ready`, is logged once, and the feed is
    opened again every `retry` seconds; any other failure is logged and reopened the same way, so the
    follower outlives one bad item. Returns when `stop` is set (the store may be closed under the feed)."""
    reopened = False
    while not stop.is_set():
        try:
            feed = open_feed(reopened)
            ready.set()
            for item in feed:
                on_item(item)
        except StoreUnavailable as exc:
            if stop.is_set():
                return
            if not reopened or ready.is_set():
                log.warning("%s feed lost (%s); reopening when the store is back", what, exc)
            ready.clear()
        except Exception:
            if stop.is_set():
                return
            log.exception("%s feed failed; reopening", what)
        reopened = True
        stop.wait(retry)
