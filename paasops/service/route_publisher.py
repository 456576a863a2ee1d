"""Publishes the route table and the edges' certificates to etcd, and drains a replica before it stops."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import pyetcd

from ..auth.ownership import Who, may_access
from ..expose import parse_expose, urls
from ..results import RouteView
from ..vocabulary import ETCD_EDGE_CERTS_PREFIX, ETCD_EDGES_PREFIX, ETCD_ROUTES_PREFIX, ROUTES_ERROR_EVENT, UP
from .containers import ContainerView
from .registration import parse_etcd_endpoint
from .route_table import cert_value, changes, edges_applied, encode, parse_json, published_ready, route_view

log = logging.getLogger(__name__)
CERTS_EVERY = 5.0  # seconds between two looks at the certificate bundles (they change rarely)
ACK_POLL = 0.05  # seconds between two reads of the edges' acks while a drain waits

Table = Callable[[frozenset[str]], Mapping[str, dict]]  # withdrawn container ids -> app -> route value


class RoutePublisher:
    """One thread that keeps `/paasops/routes/<app>` (and `/paasops/edge-certs/<host>`) what `table` says.

    It recomputes when poked (a container event, a host transition, a deploy's end) and every `interval`
    seconds, and writes only the keys that changed (no lease: the edges keep the last routes while the
    service or etcd is away); a key of an app no longer exposed goes. etcd trouble is logged and recorded,
    never raised: the next sweep tries again on a fresh client.

    `before_stop(view)` (ContainerOps calls it before a stop, restart or destroy) publishes the replica as
    drain, waits until every live edge applied that (at most `drain_timeout`), then `drain_grace` for the
    requests in flight; `after_stop(view)` lets the table show it as it is again.
    """

    def __init__(self, endpoints: list[str], table: Table, *, tls: Mapping[str, str | None] | None = None,
                 edge_status: Callable[[str], str] = lambda engine_id: UP,
                 cert_bundles: Callable[[], dict[str, str]] | None = None,
                 record: Callable[..., Any] = lambda *a, **k: None, interval: float = 1.0,
                 drain_timeout: float = 2.0, drain_grace: float = 0.5, timeout: float = 3.0):
        if not endpoints:
            raise ValueError("RoutePublisher needs at least one etcd endpoint")
        self.endpoints = [parse_etcd_endpoint(e) for e in endpoints]
        self.table, self.edge_status, self.cert_bundles, self.record = table, edge_status, cert_bundles, record
        self.interval, self.timeout = interval, timeout
        self.drain_timeout, self.drain_grace = drain_timeout, drain_grace
        self._tls = dict(tls or {})
        self._client: Any = None
        self._endpoint_index = 0
        self._lock = threading.RLock()
        self._routes: dict[str, bytes] = {}  # app -> its value as etcd holds it
        self._revisions: dict[str, int] = {}  # app -> the revision of its last change
        self._certs: dict[str, bytes] = {}  # hostname -> its value as etcd holds it
        self._certs_at = 0.0
        self._withdrawn: set[str] = set()  # ids of containers about to stop: published as drain
        self.exposed: frozenset[str] = frozenset()  # apps of the last table
        self.edges: dict[str, dict] = {}  # engine id -> its agent's last report
        self.error: str | None = None  # why the last sync failed (None: it did not)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="route-publisher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._disconnect()

    def certs_changed(self) -> None:
        """A certificate was issued, added or removed: give the edges the bundles at the next pass."""
        self._certs_at = 0.0
        self._wake.set()

    def poke(self, *_: Any) -> None:
        """Something that moves routes changed: recompute now (any arguments, so it fits any callback)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            self.sync()

    # -- publishing ----------------------------------------------------------------------
    def sync(self) -> bool:
        """Publish what changed now; False (logged, recorded once per outage) if etcd or the table failed."""
        with self._lock:
            try:
                self._sync()
            except Exception as exc:  # etcd away, a store hiccup: the edges keep the last routes meanwhile
                self._failed(exc)
                return False
        if self.error is not None:
            log.info("routes published again (etcd answers)")
            self.error = None
        return True

    def _sync(self) -> None:
        desired = self.table(frozenset(self._withdrawn))
        client = self._connected()
        self.exposed = frozenset(desired)
        puts, deletes = changes({app: encode(value) for app, value in desired.items()}, self._routes)
        for app, blob in puts.items():
            reply = client.put(ETCD_ROUTES_PREFIX + app, blob)
            self._routes[app], self._revisions[app] = blob, reply.header.revision
        for app in deletes:
            client.delete(ETCD_ROUTES_PREFIX + app)
            self._routes.pop(app, None)
            self._revisions.pop(app, None)
        if self.cert_bundles is not None and time.monotonic() - self._certs_at >= CERTS_EVERY:
            self._sync_certs(client)
        self.edges = self._read_edges(client)

    def _sync_certs(self, client: Any) -> None:
        bundles = self.cert_bundles() if self.cert_bundles is not None else {}
        puts, deletes = changes({h: encode(cert_value(h, pem)) for h, pem in bundles.items()}, self._certs)
        for hostname, blob in puts.items():
            client.put(ETCD_EDGE_CERTS_PREFIX + hostname, blob)
            self._certs[hostname] = blob
        for hostname in deletes:
            client.delete(ETCD_EDGE_CERTS_PREFIX + hostname)
            self._certs.pop(hostname, None)
        self._certs_at = time.monotonic()

    @property
    def withdrawn(self) -> frozenset[str]:
        """Ids of the containers published as drain because they are being stopped."""
        return frozenset(self._withdrawn)

    @property
    def cert_hosts(self) -> frozenset[str]:
        """The hostnames whose certificate the edges have been given (their URLs have https too)."""
        return frozenset(self._certs)

    def _failed(self, exc: Exception) -> None:
        first = self.error is None
        self.error = f"{type(exc).__name__}: {exc}".strip()[:500]
        self._disconnect()
        log.log(logging.WARNING if first else logging.DEBUG, "routes not published: %s", self.error)
        if first:
            try:
                self.record(ROUTES_ERROR_EVENT, tag="routes",
                            message=f"routes not published ({self.error}); the edges keep their last routes")
            except Exception as record_exc:  # the store may be what failed
                log.debug("recording the routes error: %s", record_exc)

    # -- etcd ----------------------------------------------------------------------------
    def _connected(self) -> Any:
        """The etcd client, made (and the keys it holds read) when there is none."""
        if self._client is not None:
            return self._client
        host, port, secure = self.endpoints[self._endpoint_index % len(self.endpoints)]
        self._endpoint_index += 1  # the next attempt tries the next endpoint
        tls = self._tls if secure or self._tls.get("ca_cert") else {}
        client = pyetcd.client(host, port, timeout=self.timeout, **tls)
        try:
            listing = client.get_prefix_response(ETCD_ROUTES_PREFIX)
            self._routes = {kv.key.decode()[len(ETCD_ROUTES_PREFIX):]: kv.value for kv in listing.kvs}
            self._revisions = {kv.key.decode()[len(ETCD_ROUTES_PREFIX):]: kv.mod_revision for kv in listing.kvs}
            if self.cert_bundles is not None:
                certs = client.get_prefix_response(ETCD_EDGE_CERTS_PREFIX)
                self._certs = {kv.key.decode()[len(ETCD_EDGE_CERTS_PREFIX):]: kv.value for kv in certs.kvs}
                self._certs_at = 0.0
        except Exception:
            client.close()
            raise
        self._client = client
        return client

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a broken channel
                pass

    def _read_edges(self, client: Any) -> dict[str, dict]:
        listing = client.get_prefix_response(ETCD_EDGES_PREFIX)
        edges = {}
        for kv in listing.kvs:
            value = parse_json(kv.value)
            engine_id = kv.key.decode(errors="replace")[len(ETCD_EDGES_PREFIX):]
            if value is not None and engine_id and "/" not in engine_id:
                edges[engine_id] = value
        return edges

    def routes(self) -> tuple[dict[str, dict], dict[str, int], dict[str, dict]]:
        """(app -> route value, app -> revision of its last change, engine id -> edge report), read from etcd
        now; the last known ones if it does not answer."""
        with self._lock:
            try:
                client = self._connected()
                listing = client.get_prefix_response(ETCD_ROUTES_PREFIX)
                routes = {kv.key.decode()[len(ETCD_ROUTES_PREFIX):]: (parse_json(kv.value), kv.mod_revision)
                          for kv in listing.kvs}
                self.edges = self._read_edges(client)
                return ({a: v for a, (v, _) in routes.items() if v is not None},
                        {a: r for a, (_, r) in routes.items()}, dict(self.edges))
            except Exception as exc:
                self._failed(exc)
                return ({a: v for a, b in self._routes.items() if (v := parse_json(b)) is not None},
                        dict(self._revisions), dict(self.edges))

    # -- drain before a stop -------------------------------------------------------------
    def before_stop(self, view: ContainerView) -> None:
        """Publish `view` as drain and wait until the live edges applied it, then a grace for in-flight
        requests; at once for a replica no route serves. Never raises: a stop is never held up by etcd."""
        if view.app is None or view.app not in self.exposed:
            return
        if self.error is not None:  # etcd is away: the edges keep their last routes, no ack can come
            self._withdrawn.add(view.id)  # published as drain once it answers, if the replica still runs
            return
        with self._lock:
            served = published_ready(parse_json(self._routes.get(view.app)), view.id)
            self._withdrawn.add(view.id)
            if not served:
                return
            try:
                self._sync()
            except Exception as exc:
                self._failed(exc)
                return
            revision = self._revisions.get(view.app, 0)
        lagging = self._wait_for_edges(revision)
        if lagging:
            log.warning("draining %s: edge(s) %s had not applied revision %d after %.1fs; stopping it anyway",
                        view.name, ", ".join(lagging), revision, self.drain_timeout)
        self._stop.wait(self.drain_grace)

    def _wait_for_edges(self, revision: int) -> list[str]:
        """Wait (at most drain_timeout) until every edge whose host is up applied `revision`; those that did not."""
        deadline = time.monotonic() + self.drain_timeout
        while True:
            with self._lock:
                try:
                    self.edges = self._read_edges(self._connected())
                except Exception as exc:
                    self._failed(exc)
                    return sorted(self.edges)
            lagging = edges_applied(self.edges, [e for e in self.edges if self.edge_status(e) == UP], revision)
            if not lagging or time.monotonic() >= deadline or self._stop.is_set():
                return lagging
            time.sleep(ACK_POLL)

    def after_stop(self, view: ContainerView) -> None:
        """The stop (restart, destroy) is done or failed: the replica is routed as it now is."""
        with self._lock:
            if view.id not in self._withdrawn:
                return
            self._withdrawn.discard(view.id)
        if self.error is None:
            self.sync()  # its backend goes from the routes before the caller moves on
        else:
            self.poke()  # etcd is away: the sweep publishes it when it answers, never holding the stop up


# -- what the API shows ------------------------------------------------------------------------
def _edge_addresses(service, edges: Mapping[str, dict]) -> dict[str, str]:
    """Engine id -> address of the edges: those reporting in etcd, else every engine up (the default group)."""
    engines = list(service.cluster.engines.values())
    return {h.id: h.address for h in engines if (h.id in edges if edges else h.status == UP)}


def route_views(service, who: Who | None = None) -> list[RouteView]:
    """The routes of the apps `who` may see, as etcd holds them, with each edge's view (routing off: as the
    service would publish them, with no edge)."""
    visible = {a.name for a in service.store.list_apps() if may_access(who, a.owner, a.team)}
    publisher: RoutePublisher | None = service.routes
    if publisher is not None:
        values, revisions, edges = publisher.routes()
        https = publisher.cert_hosts
    else:
        values, revisions, edges, https = service.current_routes(), {}, {}, frozenset()
    status = {h.id: h.status for h in list(service.cluster.engines.values())}
    addresses = _edge_addresses(service, edges)
    return [route_view(value, revision=revisions.get(app, 0), edges=edges, edge_addresses=addresses,
                       edge_status=status, https_hosts=https)
            for app, value in sorted(values.items()) if app in visible]


def app_urls(service, spec: Mapping[str, Any]) -> list[str]:
    """Where an app (its stored spec) answers through the edges; none when it is not exposed."""
    try:
        expose = parse_expose(spec.get("expose"))
    except ValueError:
        return []
    if expose is None:
        return []
    publisher: RoutePublisher | None = service.routes
    edges = publisher.edges if publisher is not None else {}
    https = publisher.cert_hosts if publisher is not None else frozenset()
    return urls(expose, sorted(_edge_addresses(service, edges).values()), https_hosts=https)
