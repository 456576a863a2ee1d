"""Registry sync: etcd's engine keys to on_put/on_delete, and the service's engines into etcd."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import grpc
import pyetcd
from pyetcd.events import DeleteEvent

from ..store.records import Engine
from ..vocabulary import ETCD_ENGINES_PREFIX
from .registration import engine_value, parse_engine, parse_etcd_endpoint

log = logging.getLogger(__name__)

DEFAULT_PREFIX = ETCD_ENGINES_PREFIX
ETCD_ERRORS = (pyetcd.Etcd3Exception, grpc.RpcError)
_NOTHING = object()


class RegistrySync:
    """Keeps the service's engines in step with etcd's `prefix`, surviving etcd outages.

    One thread lists the prefix, then watches from the revision after that listing, so no
    change falls in between; when etcd goes away it reconnects, lists again (reporting what
    changed meanwhile) and watches again. Callbacks run in that thread, in etcd's order.
    """

    def __init__(self, endpoints: list[str], prefix: str = DEFAULT_PREFIX,
                 on_put: Callable[[Engine], None] = lambda engine: None,
                 on_delete: Callable[[str], None] = lambda engine_id: None, *,
                 ttl: int = 10, timeout: float = 3.0, ca_cert: str | None = None,
                 cert_key: str | None = None, cert_cert: str | None = None):
        if not endpoints:
            raise ValueError("RegistrySync needs at least one etcd endpoint")
        self.endpoints = [parse_etcd_endpoint(e) for e in endpoints]
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.on_put, self.on_delete = on_put, on_delete
        self.ttl, self.timeout = ttl, timeout
        self._tls = {"ca_cert": ca_cert, "cert_key": cert_key, "cert_cert": cert_cert}
        self.synced = threading.Event()  # set once the first listing has been reported
        self._seen: dict[str, int] = {}  # engine id -> mod revision of its last good value
        self._latest: dict[str, Engine] = {}  # engine id -> its last good value
        self._lock = threading.RLock()
        self._client: Any = None  # an etcd client (pyetcd), made on the first use
        self._endpoint_index = 0
        self._lease = None
        self._owned: dict[str, Engine] = {}  # published under our lease
        self._wanted: dict[str, Engine] = {}  # to publish once etcd answers
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- public API ------------------------------------------------------------------
    def start(self, wait: float = 5.0) -> bool:
        """Start syncing; True once the initial listing reached on_put within `wait` seconds."""
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="paasops-registry",
                                            daemon=True)
            self._thread.start()
        return self.synced.wait(wait)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and revoke our lease, so the engines we published leave etcd."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def has(self, engine_id: str) -> bool:
        """Whether etcd holds a valid registration for the engine (e.g. its agent's lease)."""
        return engine_id in self._seen

    def latest(self, engine_id: str) -> Engine | None:
        """The engine's current registration in etcd as last seen, or None."""
        return self._latest.get(engine_id)

    def publish(self, engines: Iterable[Engine]) -> list[str]:
        """Register engines the service already knows, under a lease it keeps alive.

        A key that exists is left alone: an agent owns it. Returns the ids put now; those
        that could not be put because etcd is away are put when it answers again.
        """
        put: list[str] = []
        for engine in engines:
            if (engine.docker_url or "").startswith("unix:"):
                log.debug("engine %s is only reachable on a local socket: not published", engine.id)
                continue
            with self._lock:
                self._wanted[engine.id] = engine
                if self._client is not None:
                    try:
                        if self._put_owned(engine):
                            put.append(engine.id)
                    except ETCD_ERRORS as exc:
                        log.warning("could not publish engine %s now (%s); will retry",
                                    engine.id, exc)
        return put

    def remove(self, engine_id: str) -> bool:
        """Delete an engine's key (a host marked down); False if etcd could not be reached."""
        with self._lock:
            self._wanted.pop(engine_id, None)
            self._owned.pop(engine_id, None)
            client = self._client
        if client is None:
            log.warning("etcd is away: key of engine %s not removed", engine_id)
            return False
        try:
            client.delete(self.prefix + engine_id)
            return True
        except ETCD_ERRORS as exc:
            log.warning("could not remove the key of engine %s: %s", engine_id, exc)
            return False

    # -- the sync thread -------------------------------------------------------------
    def _run(self) -> None:
        self._failures = 0
        while not self._stopping.is_set():
            try:
                self._connect()
                self._session()
            except Exception as exc:  # any etcd or gRPC failure: start over on a fresh client
                if not self._stopping.is_set():
                    self._failures += 1
                    log.log(logging.WARNING if self._failures == 1 else logging.DEBUG,
                            "etcd registry sync interrupted (%s: %s); reconnecting in %.1fs",
                            type(exc).__name__, exc, self._backoff())
            finally:
                self._disconnect(revoke=self._stopping.is_set())
            self._stopping.wait(self._backoff())

    def _backoff(self) -> float:
        return min(0.2 * 2 ** max(0, self._failures - 1), 2.0)

    def _connect(self) -> None:
        host, port, secure = self.endpoints[self._endpoint_index % len(self.endpoints)]
        self._endpoint_index += 1  # the next attempt tries the next endpoint
        tls = self._tls if secure or self._tls["ca_cert"] else {}
        client = pyetcd.client(host, port, timeout=self.timeout, **tls)
        # A fresh client each time: pyetcd benches a failed endpoint for 300 s otherwise.
        with self._lock:
            self._client = client

    def _disconnect(self, revoke: bool) -> None:
        with self._lock:
            client, self._client = self._client, None
            if revoke and self._lease is not None and client is not None:
                try:
                    client.revoke_lease(self._lease.id)
                except Exception as exc:
                    log.info("could not revoke lease %s: %s", self._lease.id, exc)
                self._lease = None
        if client is not None:
            try:
                client.close()
            except Exception:
                pass

    def _session(self) -> None:
        client = self._client
        listing = client.get_prefix_response(self.prefix)
        self._reconcile({kv.key: kv for kv in listing.kvs})
        events: queue.Queue = queue.Queue()
        client.add_watch_prefix_callback(self.prefix, events.put,
                                         start_revision=listing.header.revision + 1)
        self._republish()
        self.synced.set()
        self._failures = 0
        log.info("etcd registry: %d engine(s) under %s, watching from revision %d",
                 len(self._seen), self.prefix, listing.header.revision + 1)
        next_check = time.monotonic()
        while not self._stopping.is_set():
            try:
                item = events.get(timeout=0.25)
            except queue.Empty:
                item = _NOTHING
            if item is None:  # the watcher calls back with None when its stream ends cleanly
                raise ConnectionError("the watch stream ended")
            if isinstance(item, Exception):
                raise item
            if item is not _NOTHING:
                for event in item.events:
                    self._apply(event)
            if time.monotonic() >= next_check:  # also how a silent etcd is noticed
                self._keepalive()
                next_check = time.monotonic() + min(2.0, self.ttl / 3)

    def _reconcile(self, current: dict[bytes, Any]) -> None:
        present = {}
        for key, kv in current.items():
            engine_id = self._engine_id(key)
            if engine_id is not None:
                present[engine_id] = kv
        for engine_id in [e for e in self._seen if e not in present]:
            self._deleted(engine_id)
        for engine_id, kv in present.items():
            if self._seen.get(engine_id) != kv.mod_revision:
                self._put(engine_id, kv.value, kv.mod_revision)

    def _apply(self, event) -> None:
        engine_id = self._engine_id(event.key)
        if engine_id is None:
            return
        if isinstance(event, DeleteEvent):
            self._deleted(engine_id)
        else:
            self._put(engine_id, event.value, event.mod_revision)

    def _engine_id(self, key: bytes) -> str | None:
        engine_id = key.decode(errors="replace")[len(self.prefix):]
        return engine_id if engine_id and "/" not in engine_id else None

    def _put(self, engine_id: str, value: bytes, revision: int) -> None:
        try:
            engine = parse_engine(engine_id, value)
        except ValueError as exc:
            log.warning("ignoring malformed registration %s%s: %s", self.prefix, engine_id, exc)
            return
        engine.meta["etcd_revision"] = revision
        self._seen[engine_id] = revision
        self._latest[engine_id] = engine
        self._call(self.on_put, engine)

    def _deleted(self, engine_id: str) -> None:
        self._latest.pop(engine_id, None)
        if self._seen.pop(engine_id, None) is not None:
            self._call(self.on_delete, engine_id)

    @staticmethod
    def _call(callback, argument) -> None:
        try:
            callback(argument)
        except Exception:
            name = getattr(callback, "__name__", callback)
            log.exception("registry callback %s failed for %r", name,
                          getattr(argument, "id", argument))

    # -- our own registrations -------------------------------------------------------
    def _put_owned(self, engine: Engine) -> bool:
        """Put under our lease unless the key exists; the caller holds the lock."""
        if self._lease is None:
            self._lease = self._client.lease(self.ttl)
        created = self._client.put_if_not_exists(self.prefix + engine.id, engine_value(engine),
                                                 lease=self._lease)
        self._wanted.pop(engine.id, None)  # settled: ours now, or an agent's
        if created:
            self._owned[engine.id] = engine
        else:
            log.info("engine %s is already registered in etcd; left to its owner", engine.id)
        return created

    def _republish(self) -> None:
        with self._lock:
            for engine in list(self._wanted.values()):
                self._put_owned(engine)

    def _keepalive(self) -> None:
        with self._lock:
            client, lease = self._client, self._lease
        if lease is None:
            client.status()  # a cheap call that fails when etcd is gone or hung
            return
        replies = list(client.refresh_lease(lease.id))
        if replies and replies[-1].TTL > 0:
            return
        log.warning("lease %s of the published engines expired; publishing them again", lease.id)
        with self._lock:
            self._lease = None
            self._wanted.update(self._owned)
            self._owned.clear()
            self._republish()
