"""Settings of `paasops serve`: one pydantic class, read from PAASOPS_* variables and flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..auth.limiter import LoginPolicy
from ..vocabulary import (
    API_HOST,
    API_PORT,
    DEFAULT_HISTORY_KEEP,
    DEFAULT_MAX_COUNT,
    DEFAULT_PIDS_LIMIT,
    MAX_REBALANCE_MOVES,
    data_dir,
)
from .stream_limits import StreamPolicy


def default_state_url() -> str:
    return "sqlite:///" + str(data_dir() / "state.db")


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAASOPS_", extra="ignore")

    host: str = API_HOST
    port: int = Field(API_PORT, ge=1, le=65535)  # the thesis port
    state: str = Field(default_factory=default_state_url)
    etcd: list[str] = []  # etcd client URLs; empty = engines come from the store only
    pki_dir: Path | None = None
    # etcd over TLS with a client cert (default: the pki dir's etcd/ca.pem, client-cert.pem, client-key.pem);
    # plain http only with insecure_etcd, and on loopback only
    etcd_cacert: Path | None = None
    etcd_cert: Path | None = None
    etcd_key: Path | None = None
    insecure_etcd: bool = False
    local_engine: bool = False  # add this machine's Docker engine (unix socket) as engine "local"
    # copy images from this machine's Docker when no engine has them: only with local_engine, or an admin's choice
    image_copy_from_local: bool = False
    heartbeat_interval: float = Field(1.0, gt=0)
    down_after: int = Field(3, ge=1)  # consecutive missed heartbeats before a host is down
    up_after: int = Field(2, ge=1)  # consecutive answers before it is up again
    weight_cpu: float = Field(65.0, ge=0)
    weight_memory: float = Field(35.0, ge=0)
    per_host: int = Field(4, ge=1)  # replicas started at once on one engine
    pids_limit: int = Field(DEFAULT_PIDS_LIMIT, ge=1)  # processes per user container; an app.yml may ask fewer
    engine_timeout: float = Field(10.0, gt=0)
    # reach engines registered with TLS off over plain TCP (unencrypted, unauthenticated): an admin's choice
    allow_insecure_tcp: bool = False
    tls_cert: Path | None = None  # HTTPS for the API (a cert from the cluster CA, or your own)
    tls_key: Path | None = None
    max_request_body: int = Field(1024 * 1024, ge=1)  # bytes; a larger request body is refused (413) unread
    token_ttl: float = Field(12 * 3600.0, gt=0)  # seconds an API token lives
    # seconds a verified token is trusted from memory while the store is away (never past its expiry)
    token_cache_ttl: float = Field(30.0, ge=0)
    # reconcile an app as soon as another process changes it in the store (None: with RethinkDB state,
    # whose changefeed tells at once; SQLite keeps the cron/timer reconcile)
    follow_apps: bool | None = None
    admin_password: SecretStr | None = None  # the first admin's, on first start only
    # login defence: failures in a row before backoff, its first wait (doubling), the lockout
    login_free_failures: int = Field(5, ge=0)
    login_backoff: float = Field(1.0, ge=0)
    login_max_backoff: float = Field(60.0, ge=0)
    login_address_free_failures: int = Field(20, ge=0)
    login_lock_after: int = Field(10, ge=0)  # failures of one account that lock it (0: never)
    login_lock_for: float = Field(900.0, ge=0)  # seconds
    # event retention, pruned in the background: maximum age (seconds) and count (0: no limit), how often
    event_max_age: float = Field(30 * 86400.0, ge=0)
    event_max_count: int = Field(100_000, ge=0)
    event_prune_interval: float = Field(3600.0, gt=0)
    login_hash_concurrency: int = Field(2, ge=0)  # argon2 hashes at once (64 MiB each; 0: unbounded)
    # follows (`logs --follow`, `events --follow`): open at once per account and in all (beyond: 429), seconds
    # without output before one ends (0: never), seconds one may last however busy (0: no limit)
    follow_per_account: int = Field(8, ge=1)
    follow_total: int = Field(64, ge=1)
    follow_idle_timeout: float = Field(300.0, ge=0)
    follow_max_lifetime: float = Field(0.0, ge=0)
    # seconds of silence after which an engine's Docker event stream is reopened from its last event (Docker sends
    # no keepalive: this bounds how long a half-open connection can leave the container cache stale)
    engine_events_timeout: float = Field(60.0, gt=0)
    max_count: int = Field(DEFAULT_MAX_COUNT, ge=1)  # replicas one app may ask for (deploy, scale, dry run)
    history_keep: int = Field(DEFAULT_HISTORY_KEEP, ge=1)  # releases an app's history keeps (`apps history`)
    # the self-healing supervisor (docs/self-healing.md): on or off, seconds between its sweeps (it also wakes
    # on a replica's die/unhealthy event), seconds a replica may stay unhealthy before it is replaced, and
    # replicas replaced per app per minute at most (0: the app's desired count)
    supervise: bool = True
    supervise_interval: float = Field(5.0, gt=0)
    unhealthy_grace: float = Field(10.0, ge=0)
    disruption_budget: int = Field(0, ge=0)
    # routing (app.yml `expose`, with etcd only): seconds between two sweeps of the route table (it is also
    # recomputed on every container event and host transition), at most how long a stop waits for the live edges
    # to apply a replica's drain, then how long it lets requests in flight finish
    route_sweep_interval: float = Field(1.0, gt=0)
    route_drain_timeout: float = Field(2.0, ge=0)
    route_drain_grace: float = Field(0.5, ge=0)
    # budgeted rebalance on a schedule (docs/rebalance.md): seconds between two runs (0: off) and their move budget
    rebalance_every: float = Field(0.0, ge=0)
    rebalance_budget: int = Field(1, ge=1, le=MAX_REBALANCE_MOVES)

    @property
    def images_from_this_machine(self) -> bool:
        """May deploys copy images from the control machine's own Docker? Only when it is an engine, or
        an admin said so (it may hold images no engine of the cluster should get)."""
        return self.local_engine or self.image_copy_from_local

    def etcd_tls(self) -> tuple[str | None, str | None, str | None]:
        """(CA, client cert, client key) files to reach etcd: the flags, else the pki dir's etcd/ files
        (the client cert made there when the etcd CA is); Nones for plain http on loopback."""
        from ..errors import UserInputError
        from ..pki import EtcdFiles, default_pki_dir, etcd_client_files

        if self.insecure_etcd and not any(e.startswith("https://") for e in self.etcd):
            return None, None, None
        pki_dir = self.pki_dir or default_pki_dir()
        defaults = EtcdFiles.in_dir(pki_dir)
        given = (self.etcd_cacert, self.etcd_cert, self.etcd_key)
        if not any(given) and not defaults.cert.exists() and (defaults.ca.parent / "ca-key.pem").exists():
            etcd_client_files(pki_dir)  # the etcd CA is here: this machine may issue the service's cert
        files = [flag or default for flag, default in zip(given, defaults.paths(), strict=True)]
        for name, path in zip(("--etcd-cacert", "--etcd-cert", "--etcd-key"), files, strict=True):
            if not path.is_file():
                raise UserInputError(f"no file {path}: the service speaks to etcd over TLS with a client "
                                     f"certificate of the etcd CA; run `paasops bootstrap` (or `paasops lab up`) "
                                     f"with this pki dir, or give {name}", where=name)
        return str(files[0]), str(files[1]), str(files[2])

    def stream_policy(self) -> StreamPolicy:
        return StreamPolicy(per_account=self.follow_per_account, total=self.follow_total,
                            idle_timeout=self.follow_idle_timeout, max_lifetime=self.follow_max_lifetime)

    def login_policy(self) -> LoginPolicy:
        return LoginPolicy(free_failures=self.login_free_failures, backoff=self.login_backoff,
                           max_backoff=self.login_max_backoff,
                           address_free_failures=self.login_address_free_failures,
                           lock_after=self.login_lock_after, lock_for=self.login_lock_for,
                           window=max(self.login_lock_for, LoginPolicy.window))
