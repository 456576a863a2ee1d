"""The engines the service manages: add, update, remove, their health status and placement's snapshot."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..errors import ConflictError, NotFoundError, UserInputError
from ..placement import HostSnapshot
from ..store.base import Store
from ..store.records import Engine
from ..vocabulary import DOWN, HOST_EVENT_TYPES, UNKNOWN, UP
from .engine import EngineHandle
from .event_log import EventLog
from .health import shown_status
from .registration import DENIED_SOURCE, plain_tcp_refusal

log = logging.getLogger(__name__)


class EnginePool:
    """Engine id → EngineHandle, kept in step with the store; every change is recorded in the event log."""

    def __init__(self, store: Store, events: EventLog, *, pki_dir: Path | None = None,
                 engine_timeout: float = 10.0, allow_plain_tcp: bool = False):
        self.store = store
        self.allow_plain_tcp = allow_plain_tcp  # every engine with TLS off may be reached over plain TCP
        self.events = events
        self.pki_dir = pki_dir
        self.engine_timeout = engine_timeout
        self.engines: dict[str, EngineHandle] = {}
        self.health: dict[str, str] = {}  # engine id -> its health as the heartbeat last said it
        self.lapsed: set[str] = set()  # engines whose etcd registration lapsed: shown suspect, kept
        self.lock = threading.RLock()
        self.on_engines_changed: Callable[[], None] = lambda: None  # the service re-targets heartbeats and streams

    def load_engines(self) -> None:
        """Engines the store already knows (added by hand or seen in etcd before)."""
        for record in self.store.list_engines():
            if record.source != DENIED_SOURCE:  # a tombstone: an engine an admin removed
                self._attach(record)

    def _attach(self, record: Engine) -> EngineHandle:
        with self.lock:
            old = self.engines.get(record.id)
            if old and (old.record.address, old.record.docker_url) == (record.address, record.docker_url):
                old.record = replace(record, unschedulable=old.record.unschedulable,  # only a drain sets them
                                     draining=old.record.draining)
                return old
            if old:
                old.reset_client()
            handle = self.engines[record.id] = self._handle(record, self.engine_timeout)
        try:
            handle.sync()
            handle.status = UP
        except Exception as exc:  # an engine that does not answer yet is kept, marked down
            log.warning("%s", exc)
            handle.status = DOWN if record.source != "etcd" else UNKNOWN
        self.health[record.id] = handle.status
        self.on_engines_changed()
        return handle

    def _handle(self, record: Engine, timeout: float) -> EngineHandle:
        return EngineHandle(record, self.pki_dir, timeout, allow_plain_tcp=self.allow_plain_tcp)

    def upsert_engine(self, record: Engine, *, user: str | None = None) -> EngineHandle:
        """Add or update an engine (from etcd or by hand) and persist it.

        An engine with TLS off that no admin allowed over plain TCP is refused (UserInputError).
        """
        self.check_transport(record)
        is_new = record.id not in self.engines
        with self.lock:  # never between a drain's read and write of the flag
            record = self._keep_drained(record)
            self.store.put_engine(record)
        handle = self._attach(record)
        if record.source == "etcd" and record.id in self.lapsed:  # registered again: its health shows again
            self.set_lapsed(record.id, False, "registration back in etcd")
        if is_new:
            self.events.record("add-engine", host=record.id, user=user,
                               message=f"engine {record.id} at {record.docker_url or record.address} "
                                       f"({record.source})")
        return handle

    def _keep_drained(self, record: Engine) -> Engine:
        """`record` still drained (and draining) if the engine was: a registration (etcd, by hand) never
        undrains it."""
        handle = self.engines.get(record.id)
        prior = handle.record if handle else self.store.get_engine(record.id)
        if prior is None:
            return record
        return replace(record, unschedulable=record.unschedulable or prior.unschedulable,
                       draining=record.draining or prior.draining)

    def set_unschedulable(self, engine_id: str, unschedulable: bool) -> bool:
        """Drain (True) or undrain an engine, in the store first so it survives a restart; whether it changed.
        NotFoundError if the service has no such engine."""
        return self._set_flag(engine_id, "unschedulable", unschedulable)

    def set_draining(self, engine_id: str, draining: bool) -> bool:
        """Mark (True) that a drain of the engine moves its replicas, until it ends (False), in the store: a
        drain cut by a crash is resumed when the service starts again. Whether it changed."""
        return self._set_flag(engine_id, "draining", draining)

    def _set_flag(self, engine_id: str, flag: str, value: bool) -> bool:
        with self.lock:
            handle = self.engine(engine_id)
            if getattr(handle.record, flag) == value:
                return False
            record = replace(handle.record, unschedulable=value) if flag == "unschedulable" else \
                replace(handle.record, draining=value)
            self.store.put_engine(record)
            handle.record = record
        return True

    def add_engine(self, record: Engine, *, user: str | None = None) -> EngineHandle:
        """Add an engine by hand: it must answer over its API first, else nothing is changed."""
        if record.id in self.engines:
            raise ConflictError(f"engine {record.id} exists already", where="engines")
        self.check_transport(record)
        probe = self._handle(record, min(self.engine_timeout, 5.0))
        try:
            probe.sync()
        except Exception as exc:
            raise UserInputError(f"engine does not answer at {record.docker_url or record.address}: "
                                 f"{str(exc).removeprefix(f'engine {record.id}: ')}",
                                 where=f"engine {record.id}") from None
        finally:
            probe.reset_client()
        return self.upsert_engine(record, user=user)

    def check_transport(self, record: Engine) -> None:
        """Refuse an engine the service may not reach: TLS off and plain TCP not allowed by an admin."""
        refusal = plain_tcp_refusal(record, allow_all=self.allow_plain_tcp)
        if refusal:
            raise UserInputError(refusal, where=f"engine {record.id}")

    def remove_engine(self, engine_id: str, *, user: str | None = None, reason: str = "") -> None:
        with self.lock:
            handle = self.engines.pop(engine_id, None)
            self.health.pop(engine_id, None)
            self.lapsed.discard(engine_id)
        if handle is None and not self.store.get_engine(engine_id):
            raise NotFoundError(f"no engine {engine_id!r}", where="engines")
        if handle:
            handle.reset_client()
        self.store.delete_engine(engine_id)
        self.events.record("delete-engine", host=engine_id, user=user,
                           message=reason or f"engine {engine_id} removed")
        self.on_engines_changed()

    def engine(self, engine_id: str) -> EngineHandle:
        """The engine `engine_id`; NotFoundError if the service has none."""
        handle = self.engines.get(engine_id)
        if handle is None:
            raise NotFoundError(f"no engine {engine_id!r}", where="engines")
        return handle

    def set_status(self, engine_id: str, status: str, reason: str = "") -> None:
        """A health transition from the heartbeat: record what the host now shows; resync on the way up."""
        handle = self.engines.get(engine_id)
        if handle is None:
            return
        self.health[engine_id] = status
        self._show(handle, reason)

    def set_lapsed(self, engine_id: str, lapsed: bool, reason: str = "") -> None:
        """Its etcd registration lapsed (suspect: kept, no new placements) or came back (its health again)."""
        handle = self.engines.get(engine_id)
        if handle is None:
            return
        self.health.setdefault(engine_id, handle.status)
        if lapsed:
            self.lapsed.add(engine_id)
        else:
            self.lapsed.discard(engine_id)
        self._show(handle, reason)

    def _show(self, handle: EngineHandle, reason: str) -> None:
        engine_id = handle.id
        status = shown_status(self.health.get(engine_id, handle.status), engine_id in self.lapsed)
        if handle.status == status:
            return
        old = handle.status
        if status == UP:
            try:
                handle.sync()  # its containers as they are now, before it takes placements again
            except Exception as exc:  # it answered ICMP and ping; a failed sync shows in `error`
                log.warning("%s", exc)
        else:
            handle.reset_client()
        kind = HOST_EVENT_TYPES.get(status, "host-" + status)
        self.events.record(kind, tag="health", host=engine_id,
                           message=f"{engine_id}: {old} -> {status}" + (f" ({reason})" if reason else ""))
        handle.status = status  # after the event: whoever sees the new status finds its event too

    def snapshot(self) -> list[HostSnapshot]:
        """The pure view placement works on."""
        hosts = []
        for handle in list(self.engines.values()):
            cpu, mem, ports, replicas = handle.reserved()
            hosts.append(HostSnapshot(
                id=handle.id, address=handle.address, total_cpu=handle.cpus, total_mem_mb=handle.memory_mb,
                healthy=handle.placeable, schedulable=not handle.record.unschedulable, status=handle.status,
                labels=dict(handle.record.labels),
                reserved_cpu=cpu, reserved_mem_mb=mem, used_ports=frozenset(ports), replicas=replicas))
        return hosts
