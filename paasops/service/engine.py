"""One Docker engine as the service sees it: a client, its record, health and container cache."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from ..engines.client import client_for
from ..errors import ConnectionFailed
from ..results import EngineView
from ..store.records import Engine
from ..vocabulary import (
    HOST_STATUSES,
    LOCAL_ENGINE,
    UNKNOWN,
    UP,
    EngineEndpoint,
)
from .containers import ContainerView, from_sparse
from .registration import engine_endpoint, plain_tcp_refusal

log = logging.getLogger(__name__)


def engine_error(engine_id: str, exc: Exception) -> ConnectionFailed:
    """A one-line ConnectionFailed naming the engine, from any docker/requests error."""
    if isinstance(exc, docker.errors.APIError):
        detail = exc.explanation or str(exc)
    elif isinstance(exc, (requests.exceptions.ConnectionError, docker.errors.DockerException)):
        detail = f"unreachable ({type(exc).__name__})"
    else:
        detail = str(exc)
    return ConnectionFailed(str(detail)[:300], where=f"engine {engine_id}")


class EngineHandle:
    """Client + cached state of one engine. Thread-safe; the cache is kept current from events."""

    def __init__(self, record: Engine, pki_dir: Path | None, timeout: float = 10.0, *,
                 allow_plain_tcp: bool = False):
        self.record = record
        self.pki_dir = pki_dir
        self.timeout = timeout
        self.allow_plain_tcp = allow_plain_tcp  # the service setting allow_insecure_tcp
        self._status = record.status if record.status in HOST_STATUSES else UNKNOWN
        # when it last stopped being up (None while up) and last came up: the supervisor's two-stage host loss
        self.lost_since: float | None = None if self._status == UP else time.time()
        self.up_since = time.time() if self._status == UP else 0.0
        self.containers: dict[str, ContainerView] = {}
        self.images: set[str] = set()
        self.docker_info: dict[str, Any] = {}
        self.lock = threading.RLock()
        self._client: docker.DockerClient | None = None
        self.last_error: str = ""
        self.synced_at = 0.0

    @property
    def status(self) -> str:
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        was_up, self._status = self._status == UP, value
        if was_up and value != UP:
            self.lost_since = time.time()
        elif value == UP and not was_up:
            self.lost_since, self.up_since = None, time.time()

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def address(self) -> str:
        return "127.0.0.1" if self.record.address == LOCAL_ENGINE else self.record.address

    @property
    def endpoint(self) -> EngineEndpoint:
        """Where its Docker API answers and whether over TLS (see `registration.engine_endpoint`)."""
        return engine_endpoint(self.record)

    @property
    def port(self) -> int:
        return self.endpoint.port

    @property
    def client(self) -> docker.DockerClient:
        with self.lock:
            if self._client is None:
                self._client = self.open_client(self.timeout)
            return self._client

    def open_client(self, timeout: float | None) -> docker.DockerClient:
        """A new client of this engine (the event stream keeps its own); plain TCP only if allowed."""
        refusal = plain_tcp_refusal(self.record, allow_all=self.allow_plain_tcp)
        if refusal:
            raise ConnectionFailed(refusal, where=f"engine {self.id}")
        return client_for(self.endpoint, pki_dir=self.pki_dir, timeout=timeout)

    def reset_client(self) -> None:
        """Drop the client (after the engine went away) so the next use reconnects."""
        with self.lock:
            if self._client is not None:
                try:
                    self._client.close()
                except Exception:  # closing a dead connection may fail; nothing to do
                    pass
            self._client = None

    @property
    def placeable(self) -> bool:
        return self.status == UP

    @property
    def cpus(self) -> float:
        return float(self.record.cpus or self.docker_info.get("NCPU") or 0)

    @property
    def memory_mb(self) -> int:
        return int(self.record.memory_mb or (self.docker_info.get("MemTotal") or 0) // (1024 * 1024))

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:  # any failure means "no answer"
            return False

    def sync(self) -> None:
        """Re-read info, containers and images from the engine (one sparse list, no per-container calls)."""
        try:
            info = self.client.api.info()
            listed = self.client.api.containers(all=True)
            images = self.client.api.images()
        except Exception as exc:
            self.last_error = str(engine_error(self.id, exc))
            self.reset_client()
            raise engine_error(self.id, exc) from None
        with self.lock:
            self.docker_info = info
            self.containers = {c["Id"]: from_sparse(self.id, c) for c in listed}
            self.images = {tag for img in images for tag in (img.get("RepoTags") or [])} | \
                          {img["Id"] for img in images}
            self.synced_at = time.time()
            self.last_error = ""

    def refresh_container(self, container_id: str) -> ContainerView | None:
        """Re-read one container (after an event); None and dropped from the cache if it is gone."""
        try:
            listed = self.client.api.containers(all=True, filters={"id": container_id})
        except Exception as exc:
            raise engine_error(self.id, exc) from None
        with self.lock:
            match = next((c for c in listed if c["Id"] == container_id), None)
            if match is None:
                self.containers.pop(container_id, None)
                return None
            view = self.containers[container_id] = from_sparse(self.id, match)
            return view

    # -- the caches: other modules read and change them through these ------------------------
    def views(self) -> list[ContainerView]:
        """The cached containers, as a list taken under the lock."""
        with self.lock:
            return list(self.containers.values())

    def forget_container(self, container_id: str) -> None:
        """Drop a container from the cache (it was destroyed)."""
        with self.lock:
            self.containers.pop(container_id, None)

    def has_image(self, image: str) -> bool:
        """Whether the cache lists `image` (a name without a tag means `:latest`)."""
        with self.lock:
            return image in self.images or (":" not in image and f"{image}:latest" in self.images)

    def add_image(self, image: str) -> None:
        """Note that the engine has `image` now (pulled, loaded or found by inspect)."""
        with self.lock:
            self.images.add(image)

    def reserved(self) -> tuple[float, int, set[int], dict[str, int]]:
        """(cpu, memory MB, used host ports, replicas per app) held by this engine's containers."""
        cpu, mem = 0.0, 0
        ports: set[int] = set()
        replicas: dict[str, int] = {}
        with self.lock:
            for c in self.containers.values():
                ports |= c.host_ports
                app = c.app
                if c.reserving and app is not None:  # reserving implies an app; said again for the types
                    cpu += c.cpus
                    mem += c.memory_mb
                    replicas[app] = replicas.get(app, 0) + 1
        return cpu, mem, ports, replicas

    def view(self) -> EngineView:
        """The engine as the API shows it: health, capacity, reservations, containers."""
        cpu, mem, _, _ = self.reserved()
        with self.lock:
            running = sum(1 for c in self.containers.values() if c.state == "running")
            return EngineView(id=self.id, address=self.record.address, docker_url=self.record.docker_url,
                              status=self.status, unschedulable=self.record.unschedulable,
                              source=self.record.source, labels=self.record.labels,
                              cpus=self.cpus, memory_mb=self.memory_mb, reserved_cpus=round(cpu, 6),
                              reserved_memory_mb=mem, containers=len(self.containers), running=running,
                              images=len({i for i in self.images if not i.startswith("sha256:")}),
                              docker_version=self.docker_info.get("ServerVersion", ""), error=self.last_error)
