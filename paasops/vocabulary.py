"""The project's vocabulary, written once: container labels, host statuses, ports, engine URLs, paths.

Every other module imports these names; none types the strings out again. This module imports
nothing of paasops (it sits at the bottom of the layers, beside `errors`).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

# -- container labels: what paasops writes on every container it starts ---------------------------
LABEL_PREFIX = "paasops."  # reserved: an app.yml may not set labels under it
LABEL_APP = "paasops.app"
LABEL_DEPLOYMENT = "paasops.deployment"
LABEL_SPEC_HASH = "paasops.spec-hash"
LABEL_REPLICA = "paasops.replica"
LABEL_CPUS = "paasops.cpus"
LABEL_MEMORY = "paasops.memory-mb"
LABEL_PORTS = "paasops.host-ports"
LABEL_LAB = "paasops.lab"  # lab hosts and the lab etcd on the local engine
LABEL_ATTEMPT = "paasops.attempt"  # one create attempt's id: a failed create removes only what it made
LABEL_OWNER = "paasops.owner"  # the account the container's app belongs to (none: admins' only)
LABEL_TEAM = "paasops.team"  # that account's team when it deployed, whose members share the app
LABEL_SECRETS = "paasops.secret-names"  # the env names `inspect` shows as REDACTED (names, never values)

# -- host (engine) statuses ---------------------------------------------------------------------
UNKNOWN, UP, DOWN, DEGRADED = "unknown", "up", "down", "degraded"
# registration lapsed (its etcd lease ended without the agent leaving): kept, no new placements
SUSPECT = "suspect"
HOST_STATUSES = (UNKNOWN, UP, DOWN, DEGRADED, SUSPECT)
HOST_EVENT_TYPES = {UP: "host-up", DOWN: "host-down", DEGRADED: "host-degraded", SUSPECT: "host-suspect"}
# an admin drained a host (no new placements; its replicas moved away) or let it take placements again
DRAIN_EVENT, UNDRAIN_EVENT = "drain-host", "undrain-host"
# an admin cordoned a host: no new placements, its replicas left where they run (undrain lifts it)
CORDON_EVENT = "cordon-host"
# `rebalance --apply` moved one replica (or failed to), and what a whole run did
REBALANCE_MOVE_EVENT, REBALANCE_EVENT = "rebalance-move", "rebalance"
MAX_REBALANCE_MOVES = 1000  # the most moves one rebalance plans or makes
# `paasops patch` (rolling host maintenance), recorded by the CLI through POST /api/events (admins): the only
# event types a client may record, so none can pass for the service's own (host-down, drain-host …)
PATCH_DRAIN_EVENT, PATCH_PLAY_EVENT, PATCH_WAIT_EVENT = "patch-drain", "patch-play", "patch-wait"
PATCH_UNDRAIN_EVENT, PATCH_FAILED_EVENT, PATCH_DONE_EVENT = "patch-undrain", "patch-failed", "patch-done"
CLIENT_EVENT_TYPES = (PATCH_DRAIN_EVENT, PATCH_PLAY_EVENT, PATCH_WAIT_EVENT, PATCH_UNDRAIN_EVENT,
                      PATCH_FAILED_EVENT, PATCH_DONE_EVENT)
# the registration value's key an agent sets (then revokes its lease) when it leaves on purpose
LEAVING = "leaving"

# -- events of the self-healing supervisor (`paasops serve`) ---------------------------------------
HEAL_EVENT = "heal"  # it created or removed replicas of an app (each action and its outcome in data)
HEAL_DEFERRED_EVENT = "heal-deferred"  # the disruption budget held replacements back (retried later)
SUPERVISOR_USER = "supervisor"  # the `user` of what it does, in events and on containers' run events

# -- replica health (Docker's HEALTHCHECK; none: the app has no check) ---------------------------
HEALTH_HEALTHY, HEALTH_UNHEALTHY, HEALTH_STARTING, HEALTH_NONE = "healthy", "unhealthy", "starting", "none"

# -- ports -------------------------------------------------------------------------------------
DOCKER_TLS_PORT = 2376  # the Docker remote API with mutual TLS, as bootstrap configures it
API_PORT = 5002  # the service's HTTP API
API_HOST = "127.0.0.1"
ETCD_CLIENT_PORT = 2379
SSH_PORT = 22
# host ports a `user` may not publish: the ports paasops itself uses, and every port below this one
RESERVED_HOST_PORTS = frozenset({SSH_PORT, DOCKER_TLS_PORT, ETCD_CLIENT_PORT, API_PORT})
PRIVILEGED_PORTS_BELOW = 1024

# States of a deployment record (the app record): written pending before any container starts.
DEPLOY_PENDING = "pending"
DEPLOY_ACTIVE = "active"
# Key of a pending record's `previous` set when a rolling update stopped (failure_action: pause): it is
# left as it is (nothing finishes it, reconcile starts none of its missing replicas) until the next deploy.
DEPLOY_PAUSED = "paused"

# -- limits --------------------------------------------------------------------------------------
DEFAULT_PIDS_LIMIT = 512  # processes a user container may run (a service setting; app.yml may lower it)
MAX_APP_YML_BYTES = 1024 * 1024  # an app.yml larger than this is refused before it is parsed
MAX_MEMORY_MB = 1024 * 1024 * 1024  # 1 PiB: past any engine, and far below Docker's int64 of bytes
DEFAULT_MAX_COUNT = 1000  # replicas one app may ask for (a service setting)
MAX_LOG_TAIL = 10_000_000  # lines a logs request may ask for (`all` asks for every line)

# -- release history (`paasops apps history`) --------------------------------------------------
# Outcomes of a release in an app's history (one row per deployment attempt): pending until it commits
# (active), is rolled back before it ran (rolled-back), commits with replicas that did not start (failed)
# or is paused by its update policy; an active one becomes superseded when the next one commits.
RELEASE_PENDING, RELEASE_ACTIVE, RELEASE_SUPERSEDED = DEPLOY_PENDING, DEPLOY_ACTIVE, "superseded"
RELEASE_ROLLED_BACK, RELEASE_FAILED, RELEASE_PAUSED = "rolled-back", "failed", "paused"
RELEASE_OUTCOMES = (RELEASE_PENDING, RELEASE_ACTIVE, RELEASE_SUPERSEDED, RELEASE_ROLLED_BACK, RELEASE_FAILED,
                    RELEASE_PAUSED)
DEFAULT_HISTORY_KEEP = 20  # releases kept per app (a service setting)

# -- engines -------------------------------------------------------------------------------------
LOCAL_ENGINE = "local"  # the address meaning "this machine's Docker, over its unix socket"
LOCAL_DOCKER_URL = "unix:///var/run/docker.sock"

# -- etcd ----------------------------------------------------------------------------------------
ETCD_ENGINES_PREFIX = "/paasops/engines/"
# routing (issue 11): the service writes each exposed app's route and the edges' certificates, no lease; each
# edge's agent writes what it applied under its lease. A backend is ready (served) or drain (leaving).
ETCD_ROUTES_PREFIX = "/paasops/routes/"
ETCD_EDGES_PREFIX = "/paasops/edges/"
ETCD_EDGE_CERTS_PREFIX = "/paasops/edge-certs/"
BACKEND_READY, BACKEND_DRAIN = "ready", "drain"
ROUTES_ERROR_EVENT = "routes-error"  # the service could not publish routes (recorded once per outage)
# ports an app's `expose.tcp` may not take on an edge: ssh, the edge's http/https, Docker's and etcd's
EDGE_RESERVED_PORTS = frozenset({22, 80, 443, 2376, 2379, 2380})

APP_NAME = "paasops"

# -- accounts ------------------------------------------------------------------------------------
ADMIN_ROLE = "admin"  # the role that may do anything, and alone may allow an engine over plain TCP
REDACTED = "***"  # what every answer shows in place of a secret's value
SECRETS_KEY_FILE = "secrets.key"  # the key app secrets are encrypted with, 0600 beside the CA in the pki dir

# -- edge certificates (`paasops certs`): where one came from, and the events of their changes ------
CERT_SOURCE_CLUSTER_CA, CERT_SOURCE_USER = "cluster-ca", "user"
CERT_SOURCES = (CERT_SOURCE_CLUSTER_CA, CERT_SOURCE_USER)
CERT_ISSUED_EVENT, CERT_ADDED_EVENT, CERT_REMOVED_EVENT = "cert-issued", "cert-added", "cert-removed"


class EngineEndpoint(NamedTuple):
    """Where an engine's Docker API answers and whether it speaks TLS."""

    address: str
    port: int
    tls: bool

    @property
    def url(self) -> str:
        return docker_url(self.address, self.port, tls=self.tls)


def docker_url(address: str, port: int = DOCKER_TLS_PORT, *, tls: bool = True) -> str:
    """The one place an engine's Docker URL is built: `local` → the unix socket; else https/tcp."""
    if address == LOCAL_ENGINE:
        return LOCAL_DOCKER_URL
    host = f"[{address}]" if ":" in address and not address.startswith("[") else address
    return f"{'https' if tls else 'tcp'}://{host}:{port}"


def parse_docker_url(url: str | None, address: str = "") -> EngineEndpoint:
    """The inverse of `docker_url`: (address, port, tls) of a stored URL; empty → TLS on 2376.

    `http://` and `tcp://` mean plain TCP; `https://` means TLS; the unix socket means `local`.
    """
    if not url:
        return EngineEndpoint(address, DOCKER_TLS_PORT, True)
    if url.startswith("unix://"):
        return EngineEndpoint(LOCAL_ENGINE, 0, False)
    scheme, _, rest = url.partition("://")
    if not rest:
        scheme, rest = "https", url
    host, _, port = rest.rstrip("/").rpartition(":")
    if not host:
        host, port = rest.rstrip("/"), ""
    host = host.strip("[]") or address
    return EngineEndpoint(host, int(port) if port.isdigit() else DOCKER_TLS_PORT, scheme == "https")


def data_dir() -> Path:
    """Where paasops keeps its state on this machine (the cluster CA, the SQLite store, lab files)."""
    import platformdirs  # imported on use: the CLI starts faster without it

    return Path(platformdirs.user_data_dir(APP_NAME))
