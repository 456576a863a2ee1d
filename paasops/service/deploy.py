"""Batch deploy: place N replicas, start them concurrently across engines, retry on the next best."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import PaasopsError, PlacementError
from ..placement import Plan, place
from ..results import Port, ReplicaResult
from ..spec import AppSpec, docker_run_kwargs
from ..vocabulary import DEFAULT_PIDS_LIMIT, LABEL_ATTEMPT
from .cluster import Cluster
from .engine import engine_error
from .host_guard import HostGuard, HostLost
from .images import ImageDistributor
from .keyed_lock import KeyedLocks
from .replicas import replica_labels, request_for

log = logging.getLogger(__name__)
Progress = Callable[[dict[str, Any]], None]
# TEST HOOK ONLY: PAASOPS_TEST_PAUSE_AT=after-record|before-commit|drain-moving blocks every deploy (drain) at that
# point for good, so the crash-safety tests SIGKILL `serve` exactly there instead of guessing by timing. Never set.
TEST_PAUSE_ENV = "PAASOPS_TEST_PAUSE_AT"


def pause_for_test(point: str) -> None:
    """Block here forever when the test hook names `point` (see TEST_PAUSE_ENV); else return at once."""
    if os.environ.get(TEST_PAUSE_ENV) == point:
        log.warning("test hook %s: deploy paused at %s", TEST_PAUSE_ENV, point)
        threading.Event().wait()


@dataclass
class Replica:
    index: int
    host: str | None = None
    container_id: str | None = None
    name: str | None = None
    ports: list[dict[str, Any]] = field(default_factory=list)
    status: str = "pending"  # pending | running | failed
    error: str = ""
    attempts: list[str] = field(default_factory=list)  # hosts tried, in order

    def result(self) -> ReplicaResult:
        """The replica as the service answers it (`id` is the container's)."""
        return ReplicaResult(index=self.index, host=self.host, name=self.name, ports=[Port(**p) for p in self.ports],
                             status=self.status, error=self.error, attempts=list(self.attempts),
                             id=self.container_id)


def plan(cluster: Cluster, spec: AppSpec, count: int, exclude: Collection[str] = frozenset()) -> Plan:
    hosts = [h for h in cluster.snapshot() if h.id not in exclude]
    return place(hosts, request_for(spec), count, strategy=spec.strategy, weights=cluster.weights)


class Deployer:
    """Starts replicas of one spec; bounded per engine; each failure retried on the next best host."""

    def __init__(self, cluster: Cluster, images: ImageDistributor, *, per_host: int = 4,
                 max_attempts: int = 3, user: str | None = None, pids_limit: int = DEFAULT_PIDS_LIMIT,
                 labels: Mapping[str, str] | None = None):
        self.cluster = cluster
        self.labels = dict(labels or {})  # more labels for every replica: its app's owner and team
        self.pids_limit = pids_limit
        self.images = images
        self.per_host = per_host
        self.max_attempts = max_attempts
        self.user = user
        self._slots: KeyedLocks[threading.Semaphore] = KeyedLocks(lambda: threading.Semaphore(per_host))
        self.guard = HostGuard(lambda: cluster.engines)  # a down or suspect host is given up at once

    def slot(self, host: str) -> threading.Semaphore:
        """Engine `host`'s start slots: at most `per_host` replicas start on it at once."""
        return self._slots[host]

    def run(self, spec: AppSpec, deployment_id: str, indexes: list[int],
            progress: Progress = lambda _: None) -> list[Replica]:
        """Place and start one replica per index; returns them all, failed ones included. An image that
        is nowhere, nor pullable, and a placement that fails are refused before any replica starts."""
        self.images.require(spec.image, list(self.cluster.engines.values()))
        first = plan(self.cluster, spec, len(indexes))
        if not first.complete:
            raise PlacementError(first.failure_message() or "no host can take the replicas", where=spec.name)
        replicas = [Replica(i) for i in indexes]
        progress({"event": "planned", "total": len(replicas),
                  "hosts": first.placements_by_host()})
        # A thread per replica (bounded): the per-host slots bound each engine's load, and no
        # host's queue waits behind another host's full slots.
        workers = max(1, min(256, len(replicas)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deploy") as pool:
            futures = [pool.submit(self._start_with_retry, spec, deployment_id, r, a.host_id, progress)
                       for r, a in zip(replicas, first.assignments, strict=True)]
            for f in futures:
                f.result()
        return replicas

    def _start_with_retry(self, spec: AppSpec, deployment_id: str, replica: Replica, host: str,
                          progress: Progress) -> None:
        tried: set[str] = set()
        while True:
            replica.attempts.append(host)
            try:
                self.start_replica(spec, deployment_id, replica, host, progress)
                replica.status, replica.error = "running", ""
                progress({"event": "running", **replica.result().model_dump()})
                return
            except PaasopsError as exc:
                replica.error = str(exc)
                tried.add(host)
                log.warning("replica %s of %s failed on %s: %s", replica.index, spec.name, host, exc)
                progress({"event": "retry" if len(tried) < self.max_attempts else "failed",
                          "index": replica.index, "host": host, "error": str(exc)})
            if len(tried) >= self.max_attempts:
                break
            again = plan(self.cluster, spec, 1, exclude=tried)
            if not again.complete:
                replica.error += f"; no other host: {again.failure_message()}"
                break
            host = again.assignments[0].host_id
        replica.status = "failed"

    def start_replica(self, spec: AppSpec, deployment_id: str, replica: Replica, host: str,
                      progress: Progress = lambda _: None) -> None:
        """Start one replica on `host` within its slot (image first); fills in `replica`, raises on failure."""
        handle = self.cluster.engine(host)
        sources = list(self.cluster.engines.values())
        with self.guard.slot(host, self.slot(host)):
            how = self.guard.call(host, lambda: self.images.ensure(
                handle, spec.image, sources, lambda msg: progress({"event": "image", "message": msg})))
            if how != "present":
                progress({"event": "image", "message": f"{spec.image} {how} on {host}"})
            name = f"{spec.name}-{replica.index}"
            attempt = uuid.uuid4().hex[:12]
            labels = {**replica_labels(spec, deployment_id, replica.index), **self.labels, LABEL_ATTEMPT: attempt}
            kwargs = docker_run_kwargs(spec, name, labels, pids_limit=self.pids_limit)
            try:
                container = self.guard.call(host, lambda: handle.client.containers.run(**kwargs))
            except HostLost:
                raise  # nothing to clean up on a host that does not answer: reconcile finds any copy
            except Exception as exc:
                self._cleanup(handle, attempt)
                raise engine_error(host, exc) from None
            view = handle.refresh_container(container.id)
        replica.host, replica.container_id, replica.name = host, container.id, name
        replica.ports = view.ports if view else []
        self.cluster.record("run-container", user=self.user, app=spec.name, host=host, container=container.id,
                            message=f"{name} on {host}", data={"deployment": deployment_id})

    @staticmethod
    def _cleanup(handle, attempt: str) -> None:
        """A replica that failed half-way (created, not started) is removed so a retry is clean.

        Only the container this attempt created goes (found by its attempt label): another container
        that merely has the replica's name (a create refused with 409) is not paasops' to remove.
        """
        try:
            made = handle.client.api.containers(all=True, filters={"label": f"{LABEL_ATTEMPT}={attempt}"})
        except Exception:  # the engine cannot be listed: leave it to reconcile rather than guess
            return
        for entry in made:
            try:
                handle.client.api.remove_container(entry["Id"], force=True)
            except Exception:  # it went meanwhile
                pass
