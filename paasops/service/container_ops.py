"""Operations on the containers of the cluster's engines: list, find, inspect, start/stop/destroy, logs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from ..auth.ownership import Who, may_access_labels
from ..errors import UserInputError
from ..results import ContainerDetail
from ..spec import redact_inspect
from ..store.base import Store
from .containers import ContainerView, match_managed
from .engine import EngineHandle, engine_error
from .engine_pool import EnginePool
from .event_log import EventLog
from .log_redaction import SecretScrubber

log = logging.getLogger(__name__)
STOPPING = ("stop", "restart", "destroy")  # the actions that stop a container (marked for their span)


class LogFollow(Protocol):
    """A container's output as the engine sends it; `close()` (from any thread) ends it and frees a read
    blocked on a quiet container."""

    def __iter__(self) -> Iterator[bytes]: ...

    def __next__(self) -> bytes: ...

    def close(self) -> None: ...


class _ScrubbedFollow:
    """A log follow with its app's secret values cut out (a value split across chunks included)."""

    def __init__(self, stream: LogFollow, scrubber: SecretScrubber):
        self.stream, self.scrubber = stream, scrubber

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        while True:
            try:
                chunk = next(self.stream)
            except StopIteration:
                tail = self.scrubber.flush()
                if tail:
                    return tail
                raise
            shown = self.scrubber.feed(chunk)
            if shown:
                return shown

    def close(self) -> None:
        self.stream.close()


class StoppedMarks:
    """The containers stopped on purpose (`paasops stop`), kept in the store as well, so a restarted service
    leaves them stopped too (self-healing counts them, untouched); start, restart and destroy clear a mark.
    A store that fails a write leaves the mark in memory only (logged): the stop itself went through.
    A restart or a destroy holds a mark for its own span only (`persist=False`): in memory, never stored, so
    a service killed in the middle does not leave a stored mark that would keep a dead replica unreplaced."""

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        try:
            self._ids = set(store.list_stopped())
        except Exception as exc:  # a store down at start: the marks come back with the next start of the service
            log.warning("stopped containers: could not load their marks: %s", exc)
            self._ids = set()
        self._transient: set[str] = set()  # marks held in memory only, for an operation's span

    def add(self, container_id: str, *, persist: bool = True) -> None:
        with self._lock:
            if container_id in self._ids:
                return  # already marked (a stop's stored mark stays stored)
            self._ids.add(container_id)
            if not persist:
                self._transient.add(container_id)
                return
        self._write(container_id, True)

    def discard(self, container_id: str) -> None:
        with self._lock:
            if container_id not in self._ids:
                return
            self._ids.discard(container_id)
            if container_id in self._transient:
                self._transient.discard(container_id)
                return
        self._write(container_id, False)

    def _write(self, container_id: str, stopped: bool) -> None:
        try:
            self.store.mark_stopped(container_id, stopped)
        except Exception as exc:
            log.warning("stopped container %s: mark not %s in the store: %s", container_id,
                        "kept" if stopped else "cleared", exc)

    def __contains__(self, container_id: object) -> bool:
        return container_id in self._ids

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(set(self._ids))

    def __len__(self) -> int:
        return len(self._ids)


class ContainerOps:
    """Reads the engines' container caches and acts on one container at a time; each action is recorded."""

    def __init__(self, pool: EnginePool, events: EventLog):
        self.pool = pool
        self.events = events
        self.stopped = StoppedMarks(pool.store)  # stopped on purpose (`paasops stop`): the supervisor leaves them
        # routing (service/route_publisher.py): a replica is drained from the edges before it stops, restarts or
        # is destroyed, and routed as it is again once that is done (or failed)
        self.before_stop: Callable[[ContainerView], None] | None = None
        self.after_stop: Callable[[ContainerView], None] | None = None

    def containers(self, *, all_: bool = True, app: str | None = None, foreign: bool = True,
                   who: Who | None = None) -> list[ContainerView]:
        """Every engine's cached containers, newest first: only running ones unless `all_`, only `app`'s if
        given, only paasops' unless `foreign` (the API shows others to an admin who asks), only those `who`
        may see when given (None: the service itself sees all)."""
        out = [c for handle in list(self.pool.engines.values()) for c in handle.views()
               if (all_ or c.state == "running") and (app is None or c.app == app) and (foreign or c.managed)
               and (not c.managed or may_access_labels(who, c.labels))]
        return sorted(out, key=lambda c: (-c.created, c.id))

    def find(self, prefix: str, *, foreign: bool = False, who: Who | None = None) -> tuple[EngineHandle, ContainerView]:
        """One of paasops' containers (any container if `foreign`) by id prefix or exact name.

        An ambiguous prefix is a 409 listing candidates; a container paasops did not start is a 403; one
        `who` may not see is not there (404), and never makes a prefix ambiguous.
        """
        handles = list(self.pool.engines.values())
        views = [c for handle in handles for c in handle.views() if not c.managed or may_access_labels(who, c.labels)]
        view = match_managed(prefix, views, foreign=foreign)
        return next(h for h in handles if h.id == view.engine_id), view

    def inspect(self, prefix: str, *, foreign: bool = False, who: Who | None = None) -> ContainerDetail:
        """The engine's `docker inspect`, with the values of the container's secrets shown as REDACTED."""
        handle, view = self.find(prefix, foreign=foreign, who=who)
        try:
            details = handle.client.api.inspect_container(view.id)
        except Exception as exc:
            raise engine_error(handle.id, exc) from None
        return ContainerDetail(**{**view.info().model_dump(), "engine": handle.id, "inspect": redact_inspect(details)})

    def operate(self, action: str, prefix: str, *, user: str | None = None, timeout: int = 10,
                who: Who | None = None) -> ContainerView | None:
        """start | stop | restart | destroy (kill, then remove) one container; records its event."""
        handle, view = self.find(prefix, who=who)
        stops = action in STOPPING
        if stops and self.before_stop is not None:
            self.before_stop(view)
        try:
            self._act(handle, view, action, timeout)
            self.events.record(f"{action}-container", user=user, app=view.app, host=handle.id, container=view.id,
                               message=f"{action} {view.name} on {handle.id}")
            return handle.refresh_container(view.id)
        finally:
            if stops and self.after_stop is not None:
                self.after_stop(view)

    def _act(self, handle: EngineHandle, view: ContainerView, action: str, timeout: int) -> None:
        api = handle.client.api
        if action in STOPPING:  # before its `die` reaches the supervisor, which leaves it
            self.stopped.add(view.id, persist=action == "stop")  # stopped (a destroy's kill is no death to heal)
        try:
            if action == "start":
                api.start(view.id)
            elif action == "stop":
                api.stop(view.id, timeout=timeout)
            elif action == "restart":
                api.restart(view.id, timeout=timeout)
            elif action == "destroy":
                if view.state in ("running", "restarting", "paused"):
                    try:
                        api.kill(view.id)
                    except Exception:  # it may have died between list and kill; remove anyway
                        pass
                api.remove_container(view.id, force=True)
            else:
                raise UserInputError(f"unknown action {action!r}", where="container")
        except UserInputError:
            raise
        except Exception as exc:
            if action in STOPPING:
                self.stopped.discard(view.id)
            raise engine_error(handle.id, exc) from None
        if action != "stop":
            self.stopped.discard(view.id)

    def logs(self, prefix: str, *, tail: int | str = "all", stdout: bool = True, stderr: bool = True,
             timestamps: bool = False, hide: Iterable[str] = ()) -> bytes:
        """The container's output so far, with the values in `hide` (its app's secrets) shown as REDACTED."""
        handle, view = self.find(prefix)
        try:
            return SecretScrubber(hide).scrub(handle.client.api.logs(view.id, stdout=stdout, stderr=stderr, tail=tail,
                                                                     timestamps=timestamps))
        except Exception as exc:
            raise engine_error(handle.id, exc) from None

    def follow_logs(self, prefix: str, *, tail: int | str = "all", stdout: bool = True, stderr: bool = True,
                    timestamps: bool = False, hide: Iterable[str] = ()) -> LogFollow:
        """The container's output, then new output as it comes, until the container stops or the stream
        is closed; the values in `hide` shown as REDACTED. Its socket has no read timeout (Docker's client
        turns it off): the caller bounds it."""
        handle, view = self.find(prefix)
        try:
            stream = handle.client.api.logs(view.id, stdout=stdout, stderr=stderr, stream=True, follow=True,
                                            tail=tail, timestamps=timestamps)
            scrubber = SecretScrubber(hide)
            return _ScrubbedFollow(stream, scrubber) if scrubber else stream
        except Exception as exc:
            raise engine_error(handle.id, exc) from None
