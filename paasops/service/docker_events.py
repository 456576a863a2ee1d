"""Collect every engine's Docker event stream: keep the container cache current and store the events."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..vocabulary import DOWN
from .cluster import Cluster
from .container_events import REFRESH, STORED, event_action, event_container, normalise
from .engine import EngineHandle

log = logging.getLogger(__name__)


class ContainerEventCollector:
    """One thread per engine following /events; reconnects with back-off and resyncs after a gap."""

    def __init__(self, cluster: Cluster, *, store_events: bool = True):
        self.cluster = cluster
        self.store_events = store_events
        self._threads: dict[str, threading.Thread] = {}
        self._streams: dict[str, Any] = {}  # engine id -> its open event stream
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def sync_targets(self) -> None:
        """Follow every engine of the cluster; stop following removed ones."""
        with self._lock:
            current = set(self.cluster.engines)
            for engine_id in list(self._threads):
                if engine_id not in current or not self._threads[engine_id].is_alive():
                    self._close(engine_id)
                    self._threads.pop(engine_id, None)
            for engine_id in current - set(self._threads):
                t = threading.Thread(target=self._follow, args=(engine_id,), daemon=True,
                                     name=f"events-{engine_id}")
                self._threads[engine_id] = t
                t.start()

    def _close(self, engine_id: str) -> None:
        stream = self._streams.pop(engine_id, None)
        if stream is not None:
            try:
                stream.close()
            except Exception:  # closing a broken stream
                pass

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for engine_id in list(self._streams):
                self._close(engine_id)

    def _follow(self, engine_id: str) -> None:
        backoff = 0.5
        since = None
        while not self._stop.is_set():
            handle: EngineHandle | None = self.cluster.engines.get(engine_id)
            if handle is None:
                return
            if handle.status == DOWN:
                time.sleep(0.5)
                continue
            try:
                # a private client: the stream holds its connection for as long as it runs
                client = handle.open_client(timeout=None)
                stream = client.api.events(decode=True, since=since, filters={"type": ["container"]})
                self._streams[engine_id] = stream
                if since is None:
                    handle.sync()  # nothing missed between the initial list and the stream
                backoff = 0.5
                for raw in stream:
                    since = raw.get("time", since)
                    self._handle(handle, raw)
                    if self._stop.is_set() or self.cluster.engines.get(engine_id) is not handle:
                        return
            except Exception as exc:  # a broken stream: reconnect
                if self._stop.is_set():
                    return
                log.info("event stream of %s broke (%s); reconnecting", engine_id, type(exc).__name__)
            time.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    def _handle(self, handle: EngineHandle, raw: dict) -> None:
        action = event_action(raw)
        cid = event_container(raw)
        if not cid:
            return
        if action == "destroy":
            handle.forget_container(cid)
        elif action in REFRESH:
            try:
                handle.refresh_container(cid)
            except Exception as exc:  # the engine went away mid-event; the next sync fixes it
                log.debug("refresh of %s failed: %s", cid, exc)
        if self.store_events and action in STORED:
            event = normalise(handle.id, raw)
            self.cluster.record(event.pop("type"), **event)
