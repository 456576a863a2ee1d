"""What a drain does to a host's containers, as data: which move, which go, which stay, and whether all fit (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..placement import HostSnapshot
from ..placement.evacuate import Evacuation, Move, evacuate
from ..placement.model import WeightsLike
from ..results import LeftContainer
from ..spec import AppSpec
from ..store.records import App
from ..vocabulary import DEPLOY_PENDING
from .containers import ContainerView
from .replicas import free_indexes, replica_index, request_for


@dataclass
class DrainWork:
    """A host's containers sorted out: replicas to move (per app), copies to remove, containers left alone,
    and apps that block the drain (a pending deployment: which release to move is not settled)."""

    moves: dict[str, list[ContainerView]] = field(default_factory=dict)
    removals: list[tuple[ContainerView, str]] = field(default_factory=list)
    left: list[LeftContainer] = field(default_factory=list)
    blocked: dict[str, str] = field(default_factory=dict)

    @property
    def apps(self) -> list[str]:
        """The apps this drain acts on, sorted (each is done under its own lock)."""
        return sorted(set(self.moves) | {c.app for c, _ in self.removals if c.app})

    @property
    def done(self) -> bool:
        """Nothing of paasops' is left to move or remove (foreign containers may stay)."""
        return not self.moves and not self.removals and not self.blocked


def sort_out(host: str, containers: Iterable[ContainerView], apps: Mapping[str, App]) -> DrainWork:
    """Sort out what runs on `host` (`containers`: every engine's, the app's replicas elsewhere included).

    A running replica of an app's current release moves (keeping its index). A copy of another release,
    one that does not run, or one whose index already runs on another host is removed, not moved: reconcile
    would remove it too. A container paasops did not start, or of an app the store does not know, is left.
    """
    work = DrainWork()
    everything = list(containers)
    elsewhere: dict[str, set[int]] = {}
    for c in everything:
        if c.engine_id != host and c.app and c.reserving and c.app in apps and c.spec_hash == apps[c.app].spec_hash:
            elsewhere.setdefault(c.app, set()).add(replica_index(c))
    moving: dict[str, set[int]] = {}
    here = sorted((c for c in everything if c.engine_id == host), key=lambda c: (c.app or "", replica_index(c), c.name))
    for c in here:
        app = apps.get(c.app) if c.app else None
        if not c.managed:
            work.left.append(LeftContainer(id=c.id, name=c.name, why="not started by paasops"))
        elif app is None:
            work.left.append(LeftContainer(id=c.id, name=c.name, app=c.app,
                                           why=f"app {c.app!r} is not deployed (reconcile removes it)"))
        elif app.state == DEPLOY_PENDING:
            work.blocked[app.name] = (f"{app.name} has a pending deployment {app.deployment_id}: finish it first "
                                      "(`paasops reconcile`, or deploy again)")
        elif c.spec_hash != app.spec_hash:
            work.removals.append((c, f"of another release ({(c.spec_hash or 'none')[:12]}, "
                                     f"not {app.spec_hash[:12]})"))
        elif not c.reserving:
            work.removals.append((c, f"not running ({c.state})"))
        elif (index := replica_index(c)) >= 1 and (index in elsewhere.get(app.name, ()) or
                                                  index in moving.get(app.name, ())):
            work.removals.append((c, f"index {index} runs elsewhere already"))
        else:
            moving.setdefault(app.name, set()).add(index)
            work.moves.setdefault(app.name, []).append(c)
    return work


def replacement_indexes(moving: Sequence[ContainerView], taken: Iterable[int]) -> list[int]:
    """The index each moved replica starts under elsewhere: its own; a free one if it had none."""
    taken = set(taken)
    out = []
    for c in moving:
        index = replica_index(c)
        if index < 1:
            index = free_indexes(taken, 1)[0]
        taken.add(index)
        out.append(index)
    return out


def moves_of(work: DrainWork, specs: Mapping[str, AppSpec]) -> list[Move]:
    """Placement's moves for `work`, app by app in name order."""
    return [Move(request_for(specs[name]), len(work.moves[name]), specs[name].strategy) for name in sorted(work.moves)]


def refusal(host: str, hosts: Sequence[HostSnapshot], work: DrainWork, specs: Mapping[str, AppSpec],
            weights: WeightsLike = None) -> str | None:
    """Why the drain of `host` must not begin (nothing changed), or None: an app blocks it, or the other hosts
    cannot hold every replica it would move (which app, and placement's reason)."""
    if work.blocked:
        return f"cannot drain {host}: " + "; ".join(work.blocked[name] for name in sorted(work.blocked))
    plan: Evacuation = evacuate(hosts, host, moves_of(work, specs), weights)
    if not plan.complete:
        return f"cannot drain {host}: {plan.failure_message()}"
    return None
