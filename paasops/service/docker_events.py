"""Collect every engine's Docker event stream: keep the container cache current and store the events."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import urllib3

from ..vocabulary import DOWN
from .cluster import Cluster
from .container_events import REFRESH, STORED, event_action, event_container, normalise
from .engine import EngineHandle

log = logging.getLogger(__name__)
# Docker sends nothing on a quiet /events stream: after this many seconds of silence the stream is reopened
# from the last event seen (cheap), so a half-open connection never leaves the cache stale for longer
# (the engine_events_timeout setting).
READ_TIMEOUT = 60.0
EXITS, EXIT_REREADS = frozenset({"die", "oom"}), 20  # re-read every 0.1 s while the list still says running
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 15, 5, 3  # TCP keepalive: a dead peer is found in ~30 s


class EventCursor:
    """Where an engine's event stream got to: `since()` to reopen it there; `fresh()` skips the events the
    engine sends again (those at the cursor's nanosecond already handled)."""

    def __init__(self) -> None:
        self.nano: int | None = None
        self._at_nano: set[tuple] = set()

    def since(self) -> str | None:
        return None if self.nano is None else f"{self.nano // 10**9}.{self.nano % 10**9:09d}"

    def fresh(self, raw: dict) -> bool:
        nano = int(raw.get("timeNano") or int(raw.get("time") or 0) * 10**9)
        key = (event_container(raw), raw.get("Action") or raw.get("status"), nano)
        if self.nano is not None and (nano < self.nano or (nano == self.nano and key in self._at_nano)):
            return False
        if self.nano is None or nano > self.nano:
            self.nano, self._at_nano = nano, set()
        self._at_nano.add(key)
        return True


def timed_out(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError | urllib3.exceptions.TimeoutError)


def bound_socket(stream: Any, read_timeout: float) -> None:
    """Give an open Docker stream's socket a read timeout and TCP keepalive (Docker's client turns its
    timeout off for streams); reaches the socket the way docker's own CancellableStream.close does."""
    try:
        fp = stream._response.raw._fp.fp
        raw = getattr(fp, "raw", fp)
        sock: Any = getattr(raw, "_sock", None) or raw.sock
        sock.settimeout(read_timeout)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_COUNT)
    except (AttributeError, OSError) as exc:  # another transport: the heartbeat still notices a dead engine
        log.debug("no read timeout on an event stream: %s", exc)


class ContainerEventCollector:
    """One thread per engine following /events with a read timeout (a silent or half-open connection is
    dropped); reconnects from the last event seen (`since`, duplicates skipped), with back-off and a
    resync of the container list after a break."""

    def __init__(self, cluster: Cluster, *, store_events: bool = True, read_timeout: float = READ_TIMEOUT):
        self.cluster = cluster
        self.read_timeout = read_timeout
        self.store_events = store_events
        self._threads: dict[str, threading.Thread] = {}
        self._streams: dict[str, Any] = {}  # engine id -> its open event stream
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.on_event: Callable[[str, dict], None] = lambda engine_id, raw: None  # after the cache took it

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
        cursor = EventCursor()
        resync = True  # nothing missed between the engine's container list and the stream
        while not self._stop.is_set():
            handle: EngineHandle | None = self.cluster.engines.get(engine_id)
            if handle is None:
                return
            if handle.status == DOWN:
                time.sleep(0.5)
                resync = True
                continue
            opened: float | None = None
            client = None
            try:
                # a private client: the stream holds its connection for as long as it runs
                client = handle.open_client(timeout=None)
                stream = client.api.events(decode=True, since=cursor.since(), filters={"type": ["container"]})
                self._streams[engine_id] = stream
                bound_socket(stream, self.read_timeout)
                if resync or cursor.since() is None:
                    handle.sync()
                opened = time.monotonic()
                for raw in stream:
                    if cursor.fresh(raw):
                        self._handle(handle, raw)
                    if self._stop.is_set() or self.cluster.engines.get(engine_id) is not handle:
                        return
                quiet = True  # the engine ended it, or the read timed out inside Docker's client
            except Exception as exc:  # a broken or silent stream: reconnect, and resync unless it was only quiet
                if self._stop.is_set():
                    return
                quiet = timed_out(exc)
                log.log(logging.DEBUG if quiet else logging.INFO, "event stream of %s %s (%s); reconnecting",
                        engine_id, "was quiet" if quiet else "broke", type(exc).__name__)
            finally:
                if client is not None:
                    client.close()
            lived = opened is not None and time.monotonic() - opened > 1.0
            resync = not quiet
            if lived:
                backoff = 0.5
                if quiet:  # reopen at once from the cursor: nothing was lost
                    continue
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
            self._refresh(handle, cid, raw, action)
        self.cluster.changes.bump()  # before the store write: a rolling update waits on this
        if self.store_events and action in STORED:
            event = normalise(handle.id, raw)
            self.cluster.record(event.pop("type"), **event)
        self.on_event(handle.id, raw)

    def _refresh(self, handle: EngineHandle, cid: str, raw: dict, action: str, attempt: int = 0) -> None:
        try:
            view = handle.refresh_container(cid)
        except Exception as exc:  # the engine went away mid-event; the next sync fixes it
            log.debug("refresh of %s failed: %s", cid, exc)
            return
        # Docker sends `die` before its container list shows the exit: read it again shortly (off this thread)
        if action in EXITS and view is not None and view.state == "running" and attempt < EXIT_REREADS:
            timer = threading.Timer(0.1, self._reread, args=(handle, cid, raw, action, attempt + 1))
            timer.daemon = True
            timer.start()

    def _reread(self, handle: EngineHandle, cid: str, raw: dict, action: str, attempt: int) -> None:
        if self._stop.is_set():
            return
        self._refresh(handle, cid, raw, action, attempt)
        self.cluster.changes.bump()
        self.on_event(handle.id, raw)
