"""Reconcile: the pure diff of desired apps against the containers the engines run, as a plan."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..placement import HostSnapshot
from ..placement.model import WeightsLike
from ..store.records import App
from ..vocabulary import DEPLOY_PAUSED
from .containers import RESERVING, ContainerView
from .replicas import one_per_index

CREATED_GRACE = 60.0  # seconds a `created` container may take to start before it counts as dead
DEAD_STATES = frozenset({"exited", "dead"})
# The order actions are applied in: dead ones go first (they hold replica names, nothing else),
# new replicas start before duplicates and stale replicas are removed, so an app never dips.
REASONS = ("dead", "missing", "duplicate", "orphan")


@dataclass(frozen=True)
class Change:
    """Create `count` replicas of `app`, or destroy one container, and why."""

    kind: str  # create | destroy
    app: str
    reason: str  # missing | duplicate | orphan | dead
    count: int = 0  # create: replicas to start
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

    @property
    def in_sync(self) -> bool:
        return not self.actions

    def summary(self) -> dict[str, int]:
        """Replicas to create and containers to destroy, per reason."""
        counts = {reason: 0 for reason in REASONS}
        for a in self.actions:
            counts[a.reason] += a.count if a.kind == "create" else 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {"in_sync": self.in_sync, "summary": self.summary(),
                "actions": [a.to_dict() for a in self.actions], "apps": [s.to_dict() for s in self.apps],
                "unreachable": list(self.unreachable)}


def is_dead(c: ContainerView, now: float, grace: float = CREATED_GRACE) -> bool:
    """Exited or dead, or created and never started within `grace` seconds."""
    return c.state in DEAD_STATES or (c.state == "created" and now - c.created > grace)


def _destroy(c: ContainerView, reason: str, detail: str) -> Change:
    return Change("destroy", c.app or "", reason, container=c.id, name=c.name, host=c.engine_id, detail=detail)


def _duplicates(app: App, have: list[ContainerView], hosts: Sequence[HostSnapshot]) -> list[Change]:
    """The copies that go so the app keeps one replica per index, N indexes at most, each saying why."""
    up = {h.id for h in hosts if h.healthy and h.schedulable}  # a drained host's copy goes first
    detail = f"{len(have)} replicas of spec {app.spec_hash[:12]} run, {app.count} desired"
    return [_destroy(r.container, "duplicate", f"{detail}: {r.why}") for r in one_per_index(have, app.count, up)]


def _previous(app: App, c: ContainerView) -> bool:
    """Whether `c` is a replica of the release `app`'s pending deployment replaces (kept until it commits)."""
    prev = app.previous
    return prev is not None and (c.deployment, c.spec_hash) == (prev["deployment_id"], prev["spec_hash"])


def diff(desired: Iterable[App], observed: Iterable[ContainerView], hosts: Sequence[HostSnapshot], *,
         now: float, weights: WeightsLike = None, grace: float = CREATED_GRACE,
         known: Collection[str] = ()) -> ReconcilePlan:
    """What to create and destroy so the engines run exactly the desired replicas.

    Only containers with a `paasops.app` label are ever touched. Containers on hosts that are not
    up (absent from `hosts` or not healthy) are neither counted nor touched: their replicas are
    re-created elsewhere, and any surplus is removed once the host is back. A running replica of a
    deployment the store knows (`known`, and the release a pending deployment replaces) is never an
    orphan: it stays until that deployment commits or is rolled back. An app keeps exactly one
    replica per index and at most N indexes, the lowest (`one_per_index`); `weights` no longer choose
    which copies go.
    """
    del weights  # kept for callers: duplicates are chosen by index, never by host load
    apps = {a.name: a for a in desired}
    known = set(known)
    reachable = {h.id for h in hosts if h.healthy}
    current: dict[str, list[ContainerView]] = {name: [] for name in apps}
    stale: dict[str, int] = {}
    away: dict[str, int] = {}
    actions: list[Change] = []
    unreachable: list[str] = []
    for c in sorted(observed, key=lambda c: (c.engine_id, c.name, c.id)):
        if c.app is None:
            continue
        if c.engine_id not in reachable:
            unreachable.append(c.id)
            away[c.app] = away.get(c.app, 0) + 1
            continue
        app = apps.get(c.app)
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
            current[c.app].append(c)
    states = []
    for name, app in sorted(apps.items()):
        have = current[name]
        gone = _duplicates(app, have, hosts)
        kept = len(have) - len(gone)
        if kept < app.count and not (app.previous or {}).get(DEPLOY_PAUSED):  # a paused update stays as it is
            actions.append(Change("create", name, "missing", count=app.count - kept,
                                  detail=f"{kept} of {app.count} replicas run"))
        actions.extend(gone)
        per_host: dict[str, int] = {}
        for c in have:
            per_host[c.engine_id] = per_host.get(c.engine_id, 0) + 1
        states.append(AppState(name, app.count, len(have), stale.get(name, 0), away.get(name, 0),
                               dict(sorted(per_host.items())), ready=sum(c.ready for c in have),
                               unhealthy=sum(c.unhealthy for c in have)))
    actions.sort(key=lambda a: REASONS.index(a.reason))  # stable: each reason keeps its own order
    return ReconcilePlan(actions, states, unreachable)
