"""The cluster the service manages: its engines, their containers, operations on them, and events."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from ..errors import ConflictError, NotFoundError, UserInputError
from ..placement import HostSnapshot, Weights
from ..results import ClusterInfo, ContainerDetail
from ..store.base import Store
from ..store.records import Engine, Event
from .containers import ContainerView
from .engine import EngineHandle, engine_error

log = logging.getLogger(__name__)
MIN_PREFIX = 3


class Cluster:
    """Engines and their cached containers; every operation records its event in the store."""

    def __init__(self, store: Store, *, pki_dir: Path | None = None, weights: Weights | None = None,
                 engine_timeout: float = 10.0):
        self.store = store
        self.pki_dir = pki_dir
        self.weights = weights or Weights()
        self.engine_timeout = engine_timeout
        self.engines: dict[str, EngineHandle] = {}
        self.lock = threading.RLock()
        self.on_engines_changed = lambda: None  # the service re-targets heartbeats and event streams

    # -- events --------------------------------------------------------------------------
    def record(self, type_: str, *, tag: str = "api", user: str | None = None, **fields: Any) -> Event:
        return self.store.add_event(Event(type=type_, tag=tag, user=user, **fields))

    # -- engines -------------------------------------------------------------------------
    def load_engines(self) -> None:
        """Engines the store already knows (added by hand or seen in etcd before)."""
        for record in self.store.list_engines():
            self._attach(record)

    def _attach(self, record: Engine) -> EngineHandle:
        with self.lock:
            old = self.engines.get(record.id)
            if old and (old.record.address, old.record.docker_url) == (record.address, record.docker_url):
                old.record = record
                return old
            if old:
                old.reset_client()
            handle = self.engines[record.id] = EngineHandle(record, self.pki_dir, self.engine_timeout)
        try:
            handle.sync()
            handle.status = "up"
        except Exception as exc:  # an engine that does not answer yet is kept, marked down
            log.warning("%s", exc)
            handle.status = "down" if record.source != "etcd" else "unknown"
        self.on_engines_changed()
        return handle

    def upsert_engine(self, record: Engine, *, user: str | None = None) -> EngineHandle:
        """Add or update an engine (from etcd or by hand) and persist it."""
        is_new = record.id not in self.engines
        self.store.put_engine(record)
        handle = self._attach(record)
        if is_new:
            self.record("add-engine", host=record.id, user=user,
                        message=f"engine {record.id} at {record.docker_url or record.address} ({record.source})")
        return handle

    def add_engine(self, record: Engine, *, user: str | None = None) -> EngineHandle:
        """Add an engine by hand: it must answer over its API first, else nothing is changed."""
        if record.id in self.engines:
            raise ConflictError(f"engine {record.id} exists already", where="engines")
        probe = EngineHandle(record, self.pki_dir, min(self.engine_timeout, 5.0))
        try:
            probe.sync()
        except Exception as exc:
            raise UserInputError(f"engine does not answer at {record.docker_url or record.address}: "
                                 f"{str(exc).removeprefix(f'engine {record.id}: ')}", where=f"engine {record.id}") from None
        finally:
            probe.reset_client()
        return self.upsert_engine(record, user=user)

    def remove_engine(self, engine_id: str, *, user: str | None = None, reason: str = "") -> None:
        with self.lock:
            handle = self.engines.pop(engine_id, None)
        if handle is None and not self.store.get_engine(engine_id):
            raise NotFoundError(f"no engine {engine_id!r}", where="engines")
        if handle:
            handle.reset_client()
        self.store.delete_engine(engine_id)
        self.record("delete-engine", host=engine_id, user=user, message=reason or f"engine {engine_id} removed")
        self.on_engines_changed()

    def engine(self, engine_id: str) -> EngineHandle:
        handle = self.engines.get(engine_id)
        if handle is None:
            raise NotFoundError(f"no engine {engine_id!r}", where="engines")
        return handle

    def set_status(self, engine_id: str, status: str, reason: str = "") -> None:
        """A health transition from the heartbeat: record it; resync on the way up."""
        handle = self.engines.get(engine_id)
        if handle is None or handle.status == status:
            return
        old = handle.status
        if status == "up":
            try:
                handle.sync()  # its containers as they are now, before it takes placements again
            except Exception as exc:  # it answered ICMP and ping; a failed sync shows in `error`
                log.warning("%s", exc)
        else:
            handle.reset_client()
        kind = {"up": "host-up", "down": "host-down", "degraded": "host-degraded"}.get(status, "host-" + status)
        self.record(kind, tag="health", host=engine_id, message=f"{engine_id}: {old} -> {status}"
                    + (f" ({reason})" if reason else ""))
        handle.status = status  # after the event: whoever sees the new status finds its event too

    def snapshot(self) -> list[HostSnapshot]:
        """The pure view placement works on."""
        hosts = []
        for handle in list(self.engines.values()):
            cpu, mem, ports, replicas = handle.reserved()
            hosts.append(HostSnapshot(
                id=handle.id, address=handle.address, total_cpu=handle.cpus, total_mem_mb=handle.memory_mb,
                healthy=handle.placeable, status=handle.status, labels=dict(handle.record.labels),
                reserved_cpu=cpu, reserved_mem_mb=mem, used_ports=frozenset(ports), replicas=replicas))
        return hosts

    # -- containers ----------------------------------------------------------------------
    def containers(self, *, all_: bool = True, app: str | None = None) -> list[ContainerView]:
        out = []
        for handle in list(self.engines.values()):
            with handle.lock:
                out.extend(c for c in handle.containers.values()
                           if (all_ or c.state == "running") and (app is None or c.app == app))
        return sorted(out, key=lambda c: (-c.created, c.id))

    def find(self, prefix: str) -> tuple[EngineHandle, ContainerView]:
        """A container by id prefix or exact name; an ambiguous prefix is a 409 listing candidates."""
        if not prefix:
            raise UserInputError("empty container id", where="container")
        matches = []
        for handle in list(self.engines.values()):
            with handle.lock:
                for c in handle.containers.values():
                    if c.id == prefix or c.name == prefix:
                        return handle, c
                    if len(prefix) >= MIN_PREFIX and c.id.startswith(prefix):
                        matches.append((handle, c))
        if not matches:
            raise NotFoundError(f"no container {prefix!r}", where="containers")
        if len(matches) > 1:
            names = ", ".join(f"{c.id[:12]} ({c.name} on {h.id})" for h, c in matches[:10])
            raise ConflictError(f"id prefix {prefix!r} is ambiguous: {names}", where="containers")
        return matches[0]

    def inspect(self, prefix: str) -> ContainerDetail:
        handle, view = self.find(prefix)
        try:
            details = handle.client.api.inspect_container(view.id)
        except Exception as exc:
            raise engine_error(handle.id, exc) from None
        return ContainerDetail(**{**view.info().model_dump(), "engine": handle.id, "inspect": details})

    def operate(self, action: str, prefix: str, *, user: str | None = None, timeout: int = 10) -> ContainerView | None:
        """start | stop | restart | destroy (kill, then remove) one container; records its event."""
        handle, view = self.find(prefix)
        api = handle.client.api
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
            raise engine_error(handle.id, exc) from None
        self.record(f"{action}-container", user=user, app=view.app, host=handle.id, container=view.id,
                    message=f"{action} {view.name} on {handle.id}")
        return handle.refresh_container(view.id)

    def logs(self, prefix: str, *, follow: bool = False, tail: int | str = "all", stdout: bool = True,
             stderr: bool = True, timestamps: bool = False) -> Iterator[bytes]:
        handle, view = self.find(prefix)
        try:
            if follow:
                return handle.client.api.logs(view.id, stdout=stdout, stderr=stderr, stream=True,
                                              follow=True, tail=tail, timestamps=timestamps)
            return iter([handle.client.api.logs(view.id, stdout=stdout, stderr=stderr, tail=tail,
                                                timestamps=timestamps)])
        except Exception as exc:
            raise engine_error(handle.id, exc) from None

    # -- info ----------------------------------------------------------------------------
    def info(self) -> ClusterInfo:
        hosts = [h.view() for h in list(self.engines.values())]
        up = [h for h in hosts if h.status == "up"]
        return ClusterInfo(
            engines=len(hosts), engines_up=len(up),
            cpus=sum(h.cpus for h in up), memory_mb=sum(h.memory_mb for h in up),
            reserved_cpus=round(sum(h.reserved_cpus for h in hosts), 6),
            reserved_memory_mb=sum(h.reserved_memory_mb for h in hosts),
            containers=sum(h.containers for h in hosts),
            running=sum(h.running for h in hosts),
            images=sum(h.images for h in hosts),
            hosts=hosts, time=time.time(),
        )
