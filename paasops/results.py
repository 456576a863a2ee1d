"""Typed results, declared once: what the service returns, the API answers, the client parses and the CLI renders."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from .vocabulary import UNKNOWN

__all__ = [
    "AccountDeleted", "AccountView", "ActionOutcome", "AppSync", "AppView", "CertificateRemoved",
    "CertificateView", "ClusterInfo", "ContainerDetail",
    "ContainerGone", "ContainerInfo", "DeployResult", "Destroyed", "DryRunPlan", "EngineDeleted", "EngineView",
    "EventView", "Healthz", "HostDown", "HostExplanation", "HostRow", "LoggedOut", "LoginResult",
    "PasswordChanged", "PlannedReplica", "Port", "ReconcileAction", "ReconcileResult", "ReleaseView",
    "RemovedReplica", "ReplicaFailure", "ReplicaResult", "Report", "ReportReconcile", "ReportTotals", "Result",
    "RouteBackend", "RouteEdge", "RouteView",
    "SpecChange",
    "Totals", "WhoAmI",
]


class Result(BaseModel):
    """A result of the service. Keys in OMIT_NONE are left out of the JSON when None (they belong to some
    answers only, e.g. a scale's `before`), so the wire stays what it was before results were typed."""

    model_config = ConfigDict(extra="ignore")
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_none(self, handler):
        out = handler(self)
        for key in self.OMIT_NONE:
            if out.get(key, 0) is None:
                del out[key]
        return out


# -- containers --------------------------------------------------------------------------------
class Port(Result):
    """One port of a container: `host_port` is None when it is not published."""

    container: int | None = None
    protocol: str = "tcp"
    host_ip: str = ""
    host_port: int | None = None


class ContainerInfo(Result):
    """What the service knows of one container (from the engine's list and its paasops labels)."""

    id: str
    name: str
    engine: str
    image: str = ""
    state: str = ""
    status: str = ""
    created: float = 0.0
    app: str | None = None
    deployment: str | None = None
    spec_hash: str | None = None
    cpus: float = 0.0
    memory_mb: int = 0
    labels: dict[str, str] = {}
    ports: list[Port] = []
    health: str = "none"  # healthy | unhealthy | starting | none (no health check, or not running)
    ready: bool = False  # running and healthy (or running with no health check)


class ContainerDetail(ContainerInfo):
    """One container with the engine's full `docker inspect`."""

    inspect: dict[str, Any] = {}


class ContainerGone(Result):
    """A container that no longer exists after the operation."""

    id: str
    state: Literal["gone"] = "gone"


class Destroyed(Result):
    destroyed: str


# -- deploy and scale --------------------------------------------------------------------------
class SpecChange(Result):
    """One field that differs from the running release to the deployed spec; a secret's values never shown."""

    field: str  # `image`, `env.GREETING`, `secrets.DB_PASSWORD`, `health.interval`
    change: Literal["added", "removed", "changed"]
    old: Any = None
    new: Any = None
    secret: bool = False


class ReplicaResult(Result):
    """One replica a deploy, scale or reconcile started (or failed to): where, and the hosts tried."""

    index: int
    host: str | None = None
    name: str | None = None
    ports: list[Port] = []
    status: str = "pending"  # pending | running | failed
    error: str = ""
    attempts: list[str] = []
    id: str | None = None


class ReplicaFailure(Result):
    """A new-release replica a rolling update gave up on, and why (the health check's last output, its exit)."""

    index: int
    batch: int
    reason: str  # unhealthy | exited | not ready | did not start | gone
    detail: str = ""  # the health check's last output or the container's exit, secrets redacted
    name: str | None = None
    host: str | None = None
    id: str | None = None


class RemovedReplica(Result):
    """A replica a deploy (old spec) or a scale down destroyed."""

    id: str
    name: str = ""
    host: str = ""


class AppDeleted(Result):
    """An app removed: its record gone, these replicas destroyed."""

    deleted: str
    removed: list[RemovedReplica] = []


class DeployResult(Result):
    """A deploy or a scale; `before` and `running` are set (and sent) by a scale only (`running` by a rolled-back
    update too: the previous release's replicas that run), `batches`, `failures`,
    `rolled_back` and `paused` by a rolling update only."""

    OMIT_NONE: ClassVar[frozenset[str]] = frozenset({"before", "running", "batches", "failures", "rolled_back",
                                                     "paused"})

    app: str
    deployment: str
    spec_hash: str
    count: int
    before: int | None = None
    running: int | None = None
    replicas: list[ReplicaResult] = []
    removed: list[RemovedReplica] = []
    ok: bool = True
    new_release: bool = False  # a new spec (or a new app): its replicas replace every old one
    changes: list[SpecChange] = []  # what changed from the release that ran (empty for a new app)
    # A rolling update (a new release of a running app): its batches, and when one failed, what failed and
    # whether the previous release runs again (`replicas` then are its restored ones) or the update paused.
    batches: int | None = None
    failures: list[ReplicaFailure] | None = None
    rolled_back: bool | None = None
    paused: bool | None = None

    @property
    def failed(self) -> list[ReplicaResult]:
        return [r for r in self.replicas if r.status != "running"]

    @property
    def running_now(self) -> int:
        """Replicas running: the scale's count, else those this deploy started."""
        return self.running if self.running is not None else len(self.replicas) - len(self.failed)


class PlannedReplica(Result):
    replica: int  # 0-based within the batch
    host: str
    score: float
    cpu: float
    memory: float


class HostExplanation(Result):
    """One host's score split into its CPU and memory terms, or the filter that rejected it."""

    host: str
    status: str  # fits | rejected
    score: float | None = None
    cpu: float | None = None
    memory: float | None = None
    replicas: int = 0
    placed: int = 0
    filter: str | None = None
    reason: str | None = None


class DryRunPlan(Result):
    """A deploy's dry run: where each replica would go, and why."""

    app: str
    count: int
    dry_run: bool = True
    strategy: str
    plan: list[PlannedReplica] = []
    explanation: list[HostExplanation] = []
    new_release: bool = False  # the deploy would replace every replica (a new spec, or a new app)
    changes: list[SpecChange] = []  # what it would change from the running release


# -- apps --------------------------------------------------------------------------------------
class AppView(Result):
    """An app's desired state, with the replicas of its current spec running now and their hosts."""

    name: str
    spec: dict[str, Any]
    count: int
    deployment_id: str
    spec_hash: str = ""
    state: str = "active"  # pending: a deploy of it has not finished (or was cut short and awaits recovery)
    created_at: float = 0.0
    updated_at: float = 0.0
    replicas: int = 0  # running replicas of its current release
    ready: int = 0  # of those, the ones healthy (or running, when it has no health check)
    unhealthy: int = 0
    health: str | None = None  # its health check's probe (`http /up`, `tcp 8080`, `cmd`), None: none
    hosts: list[str] = []
    owner: str | None = None  # the account it belongs to (None: deployed before ownership, admins' only)
    team: str | None = None
    secrets: list[str] = []  # the names of its secrets: their values are never shown
    urls: list[str] = []  # where it answers through the edges (app.yml `expose`); none: not exposed


class ReleaseView(Result):
    """One release in an app's history (`apps history`): never its secrets, sealed or not."""

    app: str
    release: str  # its deployment id
    spec_hash: str = ""
    image: str = ""
    count: int = 0
    user: str | None = None  # who deployed it (None: the service, e.g. finishing a deploy after a crash)
    started_at: float = 0.0  # 0: unknown (it ran before the history was kept)
    finished_at: float | None = None
    outcome: str = "pending"  # pending | active | superseded | rolled-back | failed | paused
    current: bool = False  # the release the app record names now
    rollback_to: str | None = None  # a rollback: the release it deployed again
    why: str | None = None  # what ended it, when it did not become active


class AppSync(Result):
    """One desired app as reconcile observed it: replicas running versus desired."""

    name: str
    desired: int
    running: int
    ready: int = 0
    unhealthy: int = 0
    stale: int = 0
    unreachable: int = 0
    hosts: dict[str, int] = {}
    missing: int = 0
    extra: int = 0
    in_sync: bool = True


# -- reconcile ---------------------------------------------------------------------------------
class ReconcileAction(Result):
    """Create `count` replicas of `app`, or destroy one container, and why."""

    kind: str  # create | destroy
    app: str
    reason: str  # missing | duplicate | orphan | dead
    count: int = 0
    container: str = ""
    name: str = ""
    host: str = ""
    detail: str = ""


class ActionOutcome(ReconcileAction):
    """An action with what came of it: planned | ok | failed | skipped."""

    OMIT_NONE: ClassVar[frozenset[str]] = frozenset({"replicas", "note"})

    outcome: str
    error: str = ""
    replicas: list[ReplicaResult] | None = None  # create only
    note: str | None = None


class ReconcileResult(Result):
    """A reconcile run: the plan (dry run) or every action with its outcome, and whether all is in sync."""

    dry_run: bool
    changed: bool
    in_sync: bool
    message: str
    summary: dict[str, int]
    actions: list[ActionOutcome] = []
    remaining: list[ReconcileAction] = []
    apps: list[AppSync] = []
    busy: list[str] = []
    unreachable_hosts: list[str] = []
    unreachable_containers: list[str] = []


# -- engines and cluster -----------------------------------------------------------------------
class EngineView(Result):
    """One engine: where it is, its health, capacity, reservations and containers."""

    id: str
    address: str = ""
    docker_url: str = ""
    status: str = UNKNOWN
    unschedulable: bool = False  # drained by an admin (`hosts drain`): nothing new is placed there
    source: str = ""
    labels: dict[str, str] = {}
    cpus: float = 0.0
    memory_mb: int = 0
    reserved_cpus: float = 0.0
    reserved_memory_mb: int = 0
    containers: int = 0
    running: int = 0
    images: int = 0
    docker_version: str = ""
    error: str = ""


class EngineDeleted(Result):
    deleted: str


class EngineAdmitted(Result):
    """An engine an admin removed, let back: it joins at its next registration, once its cert proves it."""

    admitted: str
    registered: bool  # etcd holds a registration of it now (checked at once)


class MovedReplica(Result):
    """A replica a drain moved: started on `to_host` under the same index, ready, then removed from `from_host`."""

    app: str
    index: int
    name: str
    from_host: str
    to_host: str
    old_id: str
    new_id: str


class LeftContainer(Result):
    """A container a drain left on the host, and why (not paasops', or an app the store does not know)."""

    id: str
    name: str
    app: str | None = None
    why: str


class DrainResult(Result):
    """`hosts drain`: the host is unschedulable; what moved, what was removed, what was left, and whether
    it is empty of paasops' replicas now. `steps` are the progress lines, in order."""

    host: str
    unschedulable: bool = True
    already: bool = False  # it was drained before (this run moved what was left)
    moved: list[MovedReplica] = []
    removed: list[RemovedReplica] = []  # copies of another release, or of an index run elsewhere
    left: list[LeftContainer] = []
    steps: list[str] = []
    empty: bool = False
    ok: bool = True
    message: str = ""


class CordonResult(Result):
    """`hosts cordon`: the host takes no new placements; what runs there stays (`changed` False: it already
    took none)."""

    host: str
    changed: bool
    message: str = ""


class UndrainResult(Result):
    """`hosts undrain`: the host takes placements again (`changed` False: it was not drained)."""

    host: str
    changed: bool
    message: str = ""


class Totals(Result):
    """Totals over the engines: capacity counts the engines up only, reservations and containers all."""

    engines: int = 0
    engines_up: int = 0
    cpus: float = 0.0
    memory_mb: int = 0
    reserved_cpus: float = 0.0
    reserved_memory_mb: int = 0
    containers: int = 0
    running: int = 0


class ClusterInfo(Totals):
    """The totals, and each engine."""

    images: int = 0
    hosts: list[EngineView] = []
    time: float = 0.0


class Healthz(Result):
    """`ok` is false while the store is down; `store` says `up` or `down: why` (naming its host and port)."""

    ok: bool
    engines: int
    store: str = "up"


class EventView(Result):
    """One thing that happened; ids sort like times."""

    type: str
    tag: str = "api"
    app: str | None = None
    host: str | None = None
    container: str | None = None
    user: str | None = None
    message: str = ""
    data: dict[str, Any] = {}
    time: float = 0.0
    id: str = ""


# -- routes (app.yml `expose`, served by the edges) ---------------------------------------------
class RouteBackend(Result):
    """One replica a route sends traffic to: its host's address and published port; ready or drain."""

    id: str
    name: str
    address: str
    port: int
    state: str


class RouteEdge(Result):
    """What one edge (its agent's `/paasops/edges/<engine>` key) serves of a route."""

    engine: str
    status: str = UNKNOWN  # the engine's host status
    revision: int = 0  # the routes revision it has applied
    lag: int = 0  # revisions it is behind this route's last change (0: current)
    current: bool = False
    applied_at: str | None = None
    error: str | None = None  # its last apply error
    serving: dict[str, str] = {}  # backend id -> ready | drain, as the edge has it


class RouteView(Result):
    """An exposed app's route: where it answers, its backends, and each edge's view of it."""

    app: str
    mode: str  # http | tcp
    hostnames: list[str] = []
    path: str | None = None
    https_redirect: bool = False
    tcp_port: int | None = None
    revision: int = 0  # the etcd revision of its last change (0: not published)
    urls: list[str] = []
    backends: list[RouteBackend] = []
    edges: list[RouteEdge] = []


# -- report ------------------------------------------------------------------------------------
class ReportTotals(Totals):
    cpu_percent: float = 0.0
    memory_percent: float = 0.0


class HostRow(Result):
    """One host of the report, its reservations as a share of its capacity (over 100 when overcommitted)."""

    id: str
    address: str = ""
    status: str = UNKNOWN
    cpus: float = 0.0
    reserved_cpus: float = 0.0
    cpu_percent: float = 0.0
    memory_mb: int = 0
    reserved_memory_mb: int = 0
    memory_percent: float = 0.0
    containers: int = 0
    running: int = 0
    error: str = ""


class HostDown(Result):
    id: str
    address: str = ""
    status: str = UNKNOWN
    error: str = ""


class ReportReconcile(Result):
    in_sync: bool = True
    summary: dict[str, int] = {}
    pending: int = 0


# -- what-if and headroom (paasops plan; the report's N-1) -------------------------------------------
class WhatIfMove(Result):
    """One replica: the host it leaves (None: a new one of --app) and where it would go, with its score terms."""

    replica: int  # 0-based within the app's batch
    from_host: str | None = None
    host: str
    score: float
    cpu: float
    memory: float


class WhatIfApp(Result):
    """One app's replicas in a what-if: where each would go, how many would not fit and why, each host's terms."""

    app: str
    kind: str  # moved (off a lost or drained host) | new (--app)
    count: int
    placed: int
    stranded: int = 0
    why: str | None = None
    strategy: str | None = None
    moves: list[WhatIfMove] = []
    hosts: int = 0  # hosts placement looked at; `explanation` may show fewer (those placed on first)
    explanation: list[HostExplanation] = []


class WhatIfPlan(Result):
    """`paasops plan`: what losing, draining or adding hosts (and deploying an app) would do; nothing is changed."""

    lose: list[str] = []
    drain: list[str] = []
    add: list[str] = []
    apps: list[WhatIfApp] = []
    complete: bool = True
    stranded: int = 0
    message: str = ""


class RebalanceMove(Result):
    """A move of `rebalance`: replica `replica` of `app` from `from_host` to `to_host`, gaining `improvement` score
    points (placement's score of the target, `to_score`, minus its own host's without it, `from_score`); applied:
    `done` once started there, ready and its old copy removed, else `error` says why not."""

    app: str
    replica: int
    from_host: str
    to_host: str
    improvement: float
    from_score: float
    to_score: float
    done: bool = False
    old_id: str | None = None
    new_id: str | None = None
    error: str | None = None


class RebalanceResult(Result):
    """`rebalance`: the moves planned, best first (`applied` False), or those carried out then the one that failed;
    `more`: the budget left moves still worth making; `skipped`: apps not considered, and why."""

    applied: bool
    app: str | None = None
    max_moves: int
    moves: list[RebalanceMove] = []
    more: bool = False
    skipped: dict[str, str] = {}
    moved: int = 0
    ok: bool = True
    message: str = ""
    steps: list[str] = []


class AppHeadroom(Result):
    app: str
    more: int | None = None  # None: no limit (it asks for no CPU, memory or host port)
    hosts: int = 0  # hosts that take at least one more
    limit: str | None = None  # when none fits: the filter that rejects the most hosts


class HostLossView(Result):
    """What the loss of one host alone strands: app -> replicas, and why."""

    host: str
    replicas: int = 0
    survives: bool = True
    stranded: dict[str, int] = {}
    why: dict[str, str] = {}


class ResourceHeadroom(Result):
    resource: str  # cpu | memory
    total: float = 0.0
    reserved: float = 0.0
    free: float = 0.0
    worst_host: str | None = None  # the host whose loss leaves the least spare
    spare_after_worst: float = 0.0  # free on the others minus what it reserves (< 0: short)
    survives: bool = True


class Headroom(Result):
    """Room left: more replicas per app, N-1 (does the loss of any one host strand replicas?), CPU and memory."""

    survives: bool = True
    apps: list[AppHeadroom] = []
    losses: list[HostLossView] = []
    cpu: ResourceHeadroom = Field(default_factory=lambda: ResourceHeadroom(resource="cpu"))
    memory: ResourceHeadroom = Field(default_factory=lambda: ResourceHeadroom(resource="memory"))


class Report(Result):
    """`paasops report`: capacity and use per host, replicas per app, hosts down, the last day's events."""

    generated_at: float
    totals: ReportTotals = Field(default_factory=ReportTotals)
    hosts: list[HostRow] = []
    hosts_down: list[HostDown] = []
    apps: list[AppSync] = []
    apps_out_of_sync: list[str] = []
    headroom: Headroom | None = None
    reconcile: ReportReconcile = Field(default_factory=ReportReconcile)
    events: list[EventView] = []
    routes: list[RouteView] = []


# -- accounts and tokens -----------------------------------------------------------------------
class LoginResult(Result):
    token: str  # `user:TOKEN`, for `X-Access-Token` or `Authorization: Bearer`
    user: str
    role: str
    expires_at: float


class LoggedOut(Result):
    logged_out: str | None


class AccountView(Result):
    """What the API shows of an account: never its hash."""

    name: str
    role: str
    team: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


class WhoAmI(AccountView):
    token_expires_at: float


class LoginUnlocked(Result):
    account: str
    unlocked: bool  # False: it was neither locked nor backing off
    was_locked: bool


class ApiTokenView(Result):
    """A job's API token as listed: never its secret."""

    name: str
    user: str  # the account it acts as (who made it)
    role: str
    routes: list[str] = []  # ACL rules narrowing the role; empty: the whole role
    expires_at: float | None = None  # None: never
    created_at: float = 0.0


class ApiTokenCreated(ApiTokenView):
    token: str  # `user:TOKEN`, shown this once only


class ApiTokenRevoked(Result):
    revoked: str


class AccountDeleted(Result):
    deleted: str


class PasswordChanged(Result):
    account: str
    tokens_revoked: int


# -- edge certificates -------------------------------------------------------------------------
class CertificateView(Result):
    """An edge certificate as listed: its leaf's facts, never its private key."""

    hostname: str
    source: str  # cluster-ca (issued by the cluster CA) | user (added with its key)
    subject: str
    issuer: str
    names: list[str] = []  # the leaf's DNS SANs
    not_before: float
    not_after: float
    fingerprint: str  # sha256 hex of the leaf's DER
    user: str | None = None  # who issued or added it
    created_at: float = 0.0
    updated_at: float = 0.0


class CertificateRemoved(Result):
    removed: str  # the hostname
