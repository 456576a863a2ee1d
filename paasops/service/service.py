"""The running service: store, cluster, registry sync, heartbeats, event streams and the HTTP API."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import StoreUnavailable, UserInputError
from ..pki import default_pki_dir
from ..placement import Weights
from ..results import RouteView
from ..store import open_store
from ..store.exclusive import StateLock
from ..store.records import Engine
from ..vocabulary import DOWN, LEAVING, LOCAL_DOCKER_URL, LOCAL_ENGINE
from .admission import Admission
from .apps import AppManager, recover_pending
from .cluster import Cluster
from .docker_events import ContainerEventCollector
from .event_stream import EventHub
from .images import ImageDistributor
from .rebalance import RebalanceSchedule
from .registration import etcd_transport_refusal
from .retention import EventRetention, RetentionPolicy
from .settings import ServiceSettings
from .streams import Streams

if TYPE_CHECKING:
    from .app_watch import AppWatcher
    from .heartbeat import Heartbeat
    from .registry import RegistrySync
    from .route_publisher import RoutePublisher
    from .supervisor import Supervisor

log = logging.getLogger(__name__)


def _local_client():
    from ..engines.client import make_client
    try:
        client = make_client(LOCAL_ENGINE)
        client.ping()
        return client
    except Exception:  # no engine on this machine: nothing to copy images from
        return None


class Service:
    """Everything `paasops serve` runs; `start()` brings it up, `stop()` down. Usable in tests."""

    def __init__(self, settings: ServiceSettings | None = None):
        from ..auth import passwords
        from ..auth.accounts import Accounts
        from ..auth.api_tokens import ApiTokens
        from ..auth.authenticator import Authenticator
        from ..auth.limiter import LoginLimiter
        from ..auth.tokens import Tokens

        self.settings = settings = settings or ServiceSettings()
        self.store = open_store(settings.state)
        self.cluster = Cluster(self.store, pki_dir=settings.pki_dir or default_pki_dir(),
                               weights=Weights(settings.weight_cpu, settings.weight_memory),
                               engine_timeout=settings.engine_timeout,
                               allow_plain_tcp=settings.allow_insecure_tcp)
        self.images = ImageDistributor(local_source=_local_client if settings.images_from_this_machine else None)
        self.apps = AppManager(self.cluster, self.images, per_host=settings.per_host, pids_limit=settings.pids_limit,
                               max_count=settings.max_count)
        self.apps.history.keep = settings.history_keep
        self.container_events = ContainerEventCollector(self.cluster, read_timeout=settings.engine_events_timeout)
        self.tokens = Tokens(self.store, ttl=settings.token_ttl)
        passwords.set_concurrency(settings.login_hash_concurrency)
        self.accounts = Accounts(self.store, self.tokens, record=self.cluster.record,
                                 limiter=LoginLimiter(settings.login_policy()))
        self.api_tokens = ApiTokens(self.store, record=self.cluster.record)
        self.authenticator = Authenticator(self.store, self.tokens, self.api_tokens,
                                           cache_ttl=settings.token_cache_ttl)
        # one follower of the store's events for every API stream; after an outage it also writes
        # the events kept in memory meanwhile
        self.event_hub = EventHub(self.store, on_reopen=self.cluster.event_log.flush)
        self.streams = Streams(settings.stream_policy())  # open follows: caps, their own pool, ended at stop
        self.app_watcher: AppWatcher | None = None
        self.registry: RegistrySync | None = None
        self.heartbeat: Heartbeat | None = None
        self.supervisor: Supervisor | None = None
        self.routes: RoutePublisher | None = None  # with etcd only: app.yml `expose` published for the edges
        self.rebalance = RebalanceSchedule(self.apps, settings.rebalance_every, settings.rebalance_budget)
        self.cert_bundles: Callable[[], dict[str, str]] | None = None  # hostname -> cert+key PEM, for the edges
        self._retarget_lock = threading.Lock()
        self._leaving: set[str] = set()  # engines whose agent said it leaves: their key's delete removes them
        self.admission = Admission(self.cluster, settings.pki_dir or default_pki_dir(),
                                   remove_key=self._remove_key, current=self._current_registration)
        self.retention = EventRetention(self.store, RetentionPolicy(
            settings.event_max_age, settings.event_max_count, settings.event_prune_interval))
        from .certificates import Certificates  # the edges' TLS certificates (`cert_bundles` of the route publisher)
        self.certificates = Certificates(self.store, self.apps.vault, settings.pki_dir or default_pki_dir(),
                                         record=self.cluster.record)
        self.cert_bundles = self.certificates.bundles

    # -- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        refusal = etcd_transport_refusal(self.settings.etcd, insecure=self.settings.insecure_etcd)
        if refusal:
            raise UserInputError(refusal, where="--etcd")
        self._state_lock = StateLock.for_url(self.settings.state)  # one serve per state
        if self._state_lock is not None:
            self._state_lock.acquire()
        self._first_start()
        self.cluster.on_engines_changed = self._engines_changed
        self.cluster.load_engines()
        if self.settings.local_engine and LOCAL_ENGINE not in self.cluster.engines:
            self.cluster.upsert_engine(Engine(id=LOCAL_ENGINE, address=LOCAL_ENGINE, docker_url=LOCAL_DOCKER_URL,
                                              tls=False, source="local"))
        self._start_registry()
        self._start_heartbeat()
        self._engines_changed()
        self._start_app_watcher()
        self.retention.start()
        threading.Thread(target=recover_pending, args=(self.apps,), name="recover", daemon=True).start()
        from .drain import resume_drains
        threading.Thread(target=resume_drains, args=(self.apps,), name="resume-drains", daemon=True).start()
        from .supervisor import start_supervisor
        self.supervisor = start_supervisor(self)
        self.rebalance.start()  # off unless rebalance_every is set
        self._start_routes()

    def stop(self) -> None:
        for part in (self.routes, self.supervisor, self.streams, self.retention, self.app_watcher, self.event_hub,
                     self.heartbeat, self.registry, self.admission, self.container_events, self.rebalance):
            if part is not None:
                try:
                    part.stop()
                except Exception as exc:  # stopping must go on for the other parts
                    log.warning("stopping %s: %s", type(part).__name__, exc)
        self.store.close()
        lock: StateLock | None = getattr(self, "_state_lock", None)
        if lock is not None:
            lock.release()

    def store_status(self) -> str:
        """`up`, or `down: why` (naming the store's host and port); writes kept in memory meanwhile
        are written once it answers again."""
        try:
            self.store.ping()
        except StoreUnavailable as exc:
            return f"down: {exc}"
        self.cluster.event_log.flush()
        return "up"

    def _start_app_watcher(self) -> None:
        follow = self.settings.follow_apps
        if follow is None:
            follow = self.store.url.startswith("rethinkdb://")
        if not follow:
            return
        from .app_watch import AppWatcher
        from .reconcile_apply import Reconciler

        def reconcile(name: str) -> object:
            return Reconciler.for_service(self).run(user="app-watch", apps=[name])

        self.app_watcher = AppWatcher(self.store, reconcile, self.apps.written)
        self.app_watcher.start()

    def _first_start(self) -> None:
        """Default roles, and the first admin when there is no account yet."""
        from pathlib import Path

        from ..auth.first_admin import PASSWORD_FILE, ensure_first_admin, seed_roles
        from ..vocabulary import data_dir

        seed_roles(self.store)
        secret = self.settings.admin_password
        path = getattr(self.store, "path", None)  # beside the SQLite state, else in the data dir
        state_dir = Path(path).resolve().parent if path and path != ":memory:" else data_dir()
        if ensure_first_admin(self.store, secret.get_secret_value() if secret else None,
                              password_file=state_dir / PASSWORD_FILE):
            self.cluster.record("add-account", message="account admin added (role admin) at first start",
                                data={"account": "admin", "role": "admin"})

    def _engines_changed(self) -> None:
        with self._retarget_lock:
            self.container_events.sync_targets()
            if self.heartbeat is not None:
                self.heartbeat.set_targets({h.id: h.address for h in self.cluster.engines.values()})
            if self.routes is not None:
                self.routes.poke()

    # -- parts that need etcd / ICMP -------------------------------------------------------
    def _start_registry(self) -> None:
        if not self.settings.etcd:
            return
        from .registry import RegistrySync
        ca, cert, key = self.settings.etcd_tls()
        self.registry = RegistrySync(self.settings.etcd, on_put=self._on_registered,
                                     on_delete=self._on_unregistered, ca_cert=ca, cert_key=key, cert_cert=cert)
        self.registry.start()
        self.registry.publish([h.record for h in self.cluster.engines.values() if h.record.source != "local"])

    def _start_routes(self) -> None:
        if not self.settings.etcd:
            return
        from .route_publisher import RoutePublisher
        ca, cert, key = self.settings.etcd_tls()
        settings = self.settings
        self.routes = routes = RoutePublisher(
            settings.etcd, self.current_routes, tls={"ca_cert": ca, "cert_cert": cert, "cert_key": key},
            edge_status=lambda engine_id: getattr(self.cluster.engines.get(engine_id), "status", DOWN),
            cert_bundles=self.cert_bundles, record=self.cluster.record, interval=settings.route_sweep_interval,
            drain_timeout=settings.route_drain_timeout, drain_grace=settings.route_drain_grace)
        self.cluster.ops.before_stop, self.cluster.ops.after_stop = routes.before_stop, routes.after_stop
        self.certificates.on_change = routes.certs_changed
        on_event = self.container_events.on_event  # the supervisor's, if any: both hear every event

        def heard(engine_id: str, raw: dict) -> None:
            on_event(engine_id, raw)
            routes.poke()

        self.container_events.on_event = heard
        routes.poke()  # its first sync on its own thread: an etcd away never holds the start up
        routes.start()

    def current_routes(self, withdrawn: frozenset[str] = frozenset()) -> dict[str, dict]:
        """Every exposed app's route now (service/route_table.py): hosts that are leaving are not routed."""
        from .route_table import Host, route_table
        hosts = {h.id: Host(h.address, h.status) for h in list(self.cluster.engines.values())
                 if h.id not in self._leaving}
        apps = [(a.name, a.spec) for a in self.store.list_apps()]
        return route_table(apps, self.cluster.containers(), hosts, withdrawn)

    def route_views(self, who=None) -> list[RouteView]:
        """The routes `who` may see (auth.ownership), with what each edge serves (service/route_publisher.py)."""
        from .route_publisher import route_views
        return route_views(self, who)

    def _remove_key(self, engine_id: str) -> None:
        if self.registry is not None:
            self.registry.remove(engine_id)

    def _current_registration(self, engine_id: str) -> Engine | None:
        return self.registry.latest(engine_id) if self.registry is not None else None

    def _on_registered(self, record: Engine) -> None:
        if record.meta.get(LEAVING):  # the agent's last word before it revokes its lease
            self._leaving.add(record.id)
            return
        self._leaving.discard(record.id)
        self.admission.registered(record)  # once admitted, a suspect host shows its health again

    def _on_unregistered(self, engine_id: str) -> None:
        handle = self.cluster.engines.get(engine_id)
        if handle is None or handle.record.source != "etcd":
            return
        # A host leaves only on purpose: its agent said so before revoking its lease, or an admin
        # removed it. A lapsed lease (frozen host, cut path, or our own delete of a down host's key)
        # proves nothing: the host stays, suspect (or down), with its replicas, until it registers again.
        if engine_id in self._leaving:
            self._leaving.discard(engine_id)
            self.cluster.remove_engine(engine_id, reason=f"{engine_id}: its agent unregistered (left on purpose)")
        else:
            self.cluster.pool.set_lapsed(engine_id, True, "registration gone from etcd")

    def _start_heartbeat(self) -> None:
        from .heartbeat import Heartbeat
        self.heartbeat = Heartbeat(interval=self.settings.heartbeat_interval, k_down=self.settings.down_after,
                                   m_up=self.settings.up_after, on_transition=self._on_transition,
                                   docker_ping=self._docker_ping)
        self.heartbeat.start()

    def _docker_ping(self, engine_id: str) -> bool:
        handle = self.cluster.engines.get(engine_id)
        return handle is not None and handle.ping()

    def _on_transition(self, transition) -> None:
        engine_id, new = transition.engine_id, transition.new
        self.cluster.set_status(engine_id, new, transition.reason)
        if self.supervisor is not None:  # a host lost or back: its apps are looked at now
            self.supervisor.schedule()
        if self.routes is not None:  # its replicas join or leave the routes now
            self.routes.poke()
        if new == DOWN and self.registry is not None:
            self.registry.remove(engine_id)
