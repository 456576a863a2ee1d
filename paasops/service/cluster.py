"""The cluster the service manages: its engines, their containers and the event log, wired together."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ..placement import Weights
from ..results import ClusterInfo
from ..store.base import Store
from ..vocabulary import UP
from .container_events import ContainerChanges
from .container_ops import ContainerOps
from .engine import EngineHandle
from .engine_pool import EnginePool
from .event_log import EventLog


class Cluster:
    """One object for the service's parts to share: `pool` owns the engines, `ops` the container
    operations, `event_log` the events; `weights` are placement's. Its methods are theirs, forwarded, so
    callers (the API routes, apps, reconcile) need this one object; `info()` sums up the engines.
    """

    def __init__(self, store: Store, *, pki_dir: Path | None = None, weights: Weights | None = None,
                 engine_timeout: float = 10.0, allow_plain_tcp: bool = False):
        self.store = store
        self.weights = weights or Weights()
        self.event_log = EventLog(store)
        self.pool = EnginePool(store, self.event_log, pki_dir=pki_dir, engine_timeout=engine_timeout,
                                allow_plain_tcp=allow_plain_tcp)
        self.ops = ContainerOps(self.pool, self.event_log)
        self.record = self.event_log.record
        self.changes = ContainerChanges()  # bumped on each engine's container event (docker_events)
        # engines
        self.load_engines, self.upsert_engine, self.add_engine = (
            self.pool.load_engines, self.pool.upsert_engine, self.pool.add_engine)
        self.remove_engine, self.engine = self.pool.remove_engine, self.pool.engine
        self.check_transport = self.pool.check_transport
        self.set_status, self.snapshot = self.pool.set_status, self.pool.snapshot
        # containers
        self.containers, self.find, self.inspect = self.ops.containers, self.ops.find, self.ops.inspect
        self.operate, self.logs = self.ops.operate, self.ops.logs

    @property
    def engines(self) -> dict[str, EngineHandle]:
        return self.pool.engines

    @property
    def on_engines_changed(self) -> Callable[[], None]:
        return self.pool.on_engines_changed

    @on_engines_changed.setter
    def on_engines_changed(self, callback: Callable[[], None]) -> None:
        self.pool.on_engines_changed = callback

    def info(self) -> ClusterInfo:
        """Capacity and use of the engines, with each engine's view."""
        hosts = [h.view() for h in list(self.pool.engines.values())]
        up = [h for h in hosts if h.status == UP]
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
