"""Reconcile: the pure diff of desired apps against the containers the engines run, as a plan."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..placement import HostSnapshot
from ..placement.model import WeightsLike
from ..spec import reschedule_seconds
from ..store.records import App
from ..vocabulary import DEPLOY_PAUSED
from .containers import RESERVING, ContainerView
from .replicas import free_indexes, one_per_index, replica_index

CREATED_GRACE = 60.0  # seconds a `created` container may take to start before it counts as dead
DEAD_STATES = frozenset({"exited", "dead"})
# The order actions are applied in: dead ones go first (they serve nothing and hold replica names),
# new replicas start before unhealthy, duplicate and stale replicas are removed, so an app never dips.
REASONS = ("dead", "missing", "unhealthy", "duplicate", "orphan")


@dataclass(frozen=True)
class Change:
    """Create `count` replicas of `app`, or destroy one container, and why."""

    kind: str  # create | destroy
    app: str
    reason: str  # missing | unhealthy | duplicate | orphan | dead
    count: int = 0  # create: replicas to start
    indexes: tuple[int, ...] = ()  # create: their replica numbers (those of the replicas they replace)
    container: str = ""  # destroy: the container's id
    name: str = ""
    host: str = ""
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AppState:
    """One desired app as observed: replicas of its current spec on reachable hosts, and the rest."""

    name: str
    desired: int
    running: int
    stale: int = 0  # replicas of an older release (another spec hash)
    unreachable: int = 0  # replicas on hosts that are not up (neither counted nor touched)
    hosts: dict[str, int] = field(default_factory=dict)
    ready: int = 0  # running replicas that are healthy (or have no health check)
    unhealthy: int = 0

    @property
    def missing(self) -> int:
        return max(self.desired - self.running, 0)

    @property
    def extra(self) -> int:
        return max(self.running - self.desired, 0)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "missing": self.missing, "extra": self.extra,
                "in_sync": self.running == self.desired and not self.stale}


@dataclass
class ReconcilePlan:
    """What reconcile would change, in the order it applies it, and the apps as observed."""

    actions: list[Change]
    apps: list[AppState]
    unreachable: list[str] = field(default_factory=list)  # containers left alone: their host is not up
    wake_at: float | None = None  # when a replica held now (host lost, unhealthy) may need acting on


    @property
    def in_sync(self) -> bool:
        return not self.actions

    def summary(self) -> dict[str, int]:
        """Replicas to create and containers to destroy, per reason."""
        counts = {reason: 0 for reason in REASONS}
        for a in self.actions:
            counts[a.reason] += a.count if a.kind == "create" else 1
        if not counts["unhealthy"]:  # only the supervisor replaces unhealthy replicas: reconcile's stays as it was
            del counts["unhealthy"]
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {"in_sync": self.in_sync, "summary": self.summary(),
                "actions": [a.to_dict() for a in self.actions], "apps": [s.to_dict() for s in self.apps],
                "unreachable": list(self.unreachable)}


@dataclass(frozen=True)
class Timeline:
    """When things began, for the diff's two-stage decisions (all times like `now`).

    `lost_since`: when each host that is not up stopped being up; its replicas still count for their app
    until the app's `reschedule_after` has passed since then (a host missing here: they never count).
    `back_since`: when each up host last came up: of two copies of one index, the one that lived through
    its host's absence goes first. `stopped`: replicas an operator stopped, kept as they are.
    `unhealthy_since`: since when each replica (container id) is seen unhealthy; past `unhealthy_grace`
    (None: never) it is replaced, the new one started first.
    """

    lost_since: Mapping[str, float] = field(default_factory=dict)
    back_since: Mapping[str, float] = field(default_factory=dict)
    unhealthy_since: Mapping[str, float] = field(default_factory=dict)
    unhealthy_grace: float | None = None
    stopped: Collection[str] = frozenset()  # replicas stopped on purpose (`paasops stop`): they count, untouched


def is_dead(c: ContainerView, now: float, grace: float = CREATED_GRACE) -> bool:
    """Exited or dead, or created and never started within `grace` seconds."""
    return c.state in DEAD_STATES or (c.state == "created" and now - c.created > grace)


def _destroy(c: ContainerView, reason: str, detail: str) -> Change:
    return Change("destroy", c.app or "", reason, container=c.id, name=c.name, host=c.engine_id, detail=detail)


def _duplicates(app: App, have: list[ContainerView], up: set[str], timeline: Timeline,
                schedulable: set[str]) -> tuple[int, list[Change]]:
    """How many copies go so the app keeps one replica per index, N indexes at most, and the actions for
    those on up hosts (a copy on a lost host is left alone: it is found again when the host returns).
    Of two copies of one index, the one on a drained host (not `schedulable`) goes first."""
    detail = f"{len(have)} replicas of spec {app.spec_hash[:12]} run, {app.count} desired"
    removals = one_per_index(have, app.count, up & schedulable, back_since=timeline.back_since)
    return len(removals), [_destroy(r.container, "duplicate", f"{detail}: {r.why}") for r in removals
                           if r.container.engine_id in up]


def _previous(app: App, c: ContainerView) -> bool:
    """Whether `c` is a replica of the release `app`'s pending deployment replaces (kept until it commits)."""
    prev = app.previous
    return prev is not None and (c.deployment, c.spec_hash) == (prev["deployment_id"], prev["spec_hash"])


def diff(desired: Iterable[App], observed: Iterable[ContainerView], hosts: Sequence[HostSnapshot], *,
         now: float, weights: WeightsLike = None, grace: float = CREATED_GRACE,
         known: Collection[str] = (), timeline: Timeline | None = None) -> ReconcilePlan:
    """What to create and destroy so the engines run exactly the desired replicas.

    Only containers with a `paasops.app` label are ever touched. Containers on hosts that are not
    up (absent from `hosts` or not healthy) are never touched; they count for their app until its
    `reschedule_after` has passed since the host stopped being up (`timeline.lost_since`), then their
    replicas are re-created elsewhere under the same numbers, and the surplus is removed once the host
    is back (its own copies first). A replica unhealthy for longer than `timeline.unhealthy_grace` is
    replaced: the new one is started before it is removed. A running replica of a
    deployment the store knows (`known`, and the release a pending deployment replaces) is never an
    orphan: it stays until that deployment commits or is rolled back. An app keeps exactly one
    replica per index and at most N indexes, the lowest (`one_per_index`); `weights` no longer choose
    which copies go.
    """
    del weights  # kept for callers: duplicates are chosen by index, never by host load
    timeline = timeline or Timeline()
    apps = {a.name: a for a in desired}
    known = set(known)
    reachable = {h.id for h in hosts if h.healthy}
    schedulable = {h.id for h in hosts if h.schedulable}
    current: dict[str, list[ContainerView]] = {name: [] for name in apps}
    sick: dict[str, list[ContainerView]] = {name: [] for name in apps}
    taken: dict[str, set[int]] = {name: set() for name in apps}  # replica numbers a new replica may not take
    stale: dict[str, int] = {}
    away: dict[str, int] = {}
    actions: list[Change] = []
    unreachable: list[str] = []
    wake: list[float] = []
    for c in sorted(observed, key=lambda c: (c.engine_id, c.name, c.id)):
        if c.app is None:
            continue
        app = apps.get(c.app)
        if c.engine_id not in reachable:
            unreachable.append(c.id)
            away[c.app] = away.get(c.app, 0) + 1
            if app is not None and c.spec_hash == app.spec_hash and c.state in RESERVING:
                due = timeline.lost_since.get(c.engine_id, -math.inf) + reschedule_seconds(app.spec)
                if due > now:  # its host may come back: the replica still counts, and keeps its number
                    current[c.app].append(c)
                    taken[c.app].add(replica_index(c))
                    wake.append(due)
            continue
        if app is not None and c.id in timeline.stopped and c.spec_hash == app.spec_hash:
            current[c.app].append(c)  # stopped on purpose: neither dead nor replaced
            taken[c.app].add(replica_index(c))
            continue
        if app is not None and not is_dead(c, now, grace):
            taken[c.app].add(replica_index(c))
        if is_dead(c, now, grace):
            age = "" if c.state != "created" else f" {now - c.created:.0f}s ago and never started"
            actions.append(_destroy(c, "dead", f"{c.state}{age}"))
        elif app is None and c.deployment in known:
            continue  # its record is in the store (being written or rolled back): not an orphan
        elif app is None:
            actions.append(_destroy(c, "orphan", f"app {c.app!r} is not deployed"))
        elif c.spec_hash != app.spec_hash:  # another release: the record's hash is the one its replicas carry
            stale[c.app] = stale.get(c.app, 0) + 1
            if not _previous(app, c):
                actions.append(_destroy(c, "orphan", f"spec {(c.spec_hash or 'none')[:12]} is not "
                                                     f"{c.app}'s current {app.spec_hash[:12]}"))
        elif c.state in RESERVING:
            since = timeline.unhealthy_since.get(c.id)
            if timeline.unhealthy_grace is not None and c.unhealthy and since is not None:
                if since + timeline.unhealthy_grace <= now:
                    sick[c.app].append(c)
                    continue
                wake.append(since + timeline.unhealthy_grace)
            current[c.app].append(c)
    states = []
    for name, app in sorted(apps.items()):
        have = current[name]
        going, gone = _duplicates(app, have, reachable, timeline, schedulable)
        kept = len(have) - going
        if kept < app.count and not (app.previous or {}).get(DEPLOY_PAUSED):  # a paused update stays as it is
            replaced = f"; replacing {len(sick[name])} unhealthy" if sick[name] else ""
            actions.append(Change("create", name, "missing", count=app.count - kept,
                                  indexes=tuple(free_indexes(taken[name], app.count - kept)),
                                  detail=f"{kept} of {app.count} replicas run{replaced}"))
        actions.extend(_destroy(c, "unhealthy", f"unhealthy for {now - timeline.unhealthy_since[c.id]:.0f}s")
                       for c in sick[name])
        actions.extend(gone)
        per_host: dict[str, int] = {}
        for c in have:
            per_host[c.engine_id] = per_host.get(c.engine_id, 0) + 1
        states.append(AppState(name, app.count, len(have), stale.get(name, 0), away.get(name, 0),
                               dict(sorted(per_host.items())), ready=sum(c.ready for c in have),
                               unhealthy=sum(c.unhealthy for c in have)))
    actions.sort(key=lambda a: REASONS.index(a.reason))  # stable: each reason keeps its own order
    return ReconcilePlan(actions, states, unreachable, wake_at=min((t for t in wake if t > now), default=None))
