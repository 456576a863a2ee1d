"""Headroom: how many more replicas of each app fit now, and whether the cluster survives the loss of any one host."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from paasops.placement.filters import first_rejection
from paasops.placement.filters.resources import EPSILON
from paasops.placement.model import HostSnapshot, Request, Snapshot, WeightsLike
from paasops.placement.whatif import Demand, lose_each

if TYPE_CHECKING:
    from paasops.results import Headroom as HeadroomResult


@dataclass(frozen=True, slots=True)
class AppRoom:
    """How many more replicas of `app` fit now (None: unlimited, it asks for no CPU, memory or host port),
    on how many hosts, and what stops it when none does (the filter that rejects the most hosts)."""

    app: str
    more: int | None
    hosts: int
    limit: str | None = None


@dataclass(frozen=True, slots=True)
class HostLoss:
    """What losing `host` alone strands: app -> replicas no other host takes, and placement's reason."""

    host: str
    replicas: int
    stranded: Mapping[str, int]
    why: Mapping[str, str]

    @property
    def survives(self) -> bool:
        return not self.stranded


@dataclass(frozen=True, slots=True)
class ResourceRoom:
    """One resource over the hosts that take placements: capacity, reserved, free; and the host whose loss leaves
    the least spare (free elsewhere minus what it reserves; < 0: its replicas cannot all be held, whatever the fit)."""

    resource: str
    total: float
    reserved: float
    free: float
    worst_host: str | None
    spare_after_worst: float

    @property
    def survives(self) -> bool:
        return self.spare_after_worst >= -EPSILON


@dataclass(frozen=True, slots=True)
class Headroom:
    apps: tuple[AppRoom, ...]
    losses: tuple[HostLoss, ...]
    cpu: ResourceRoom
    memory: ResourceRoom
    placed: int = 0  # losses placed in full (the others surely survive)

    @property
    def survives(self) -> bool:
        """N-1: the loss of any one host strands no replica."""
        return all(loss.survives for loss in self.losses)


def fits_on(host: HostSnapshot, request: Request) -> int | None:
    """How many more replicas of `request` the host takes, as the placer counts them (None: no limit)."""
    if first_rejection(host, request) is not None:
        return 0
    if request.ports:
        return 1  # its host ports are taken by the first
    limits = []
    if request.cpus > 0:
        limits.append(math.floor((host.total_cpu - host.reserved_cpu + EPSILON) / request.cpus))
    if request.memory_mb > 0:
        limits.append((host.total_mem_mb - host.reserved_mem_mb) // request.memory_mb)
    return max(min(limits), 0) if limits else None


def app_room(snapshot: Snapshot, request: Request) -> AppRoom:
    """More replicas of `request` the cluster takes now: each host fills up alone, so it is the sum per host."""
    more: int | None = 0
    hosts = 0
    rejections: dict[str, int] = {}
    for h in snapshot:
        n = fits_on(h, request)
        if n is None:
            more = None
            hosts += 1
            continue
        if n:
            hosts += 1
            more = None if more is None else more + n
        else:
            rejection = first_rejection(h, request)
            name = rejection[0] if rejection else "resources"
            rejections[name] = rejections.get(name, 0) + 1
    limit = max(rejections, key=lambda k: rejections[k]) if rejections and not hosts else None
    return AppRoom(request.app, more, hosts, limit)


def resource_room(snapshot: Snapshot, resource: str) -> ResourceRoom:
    """CPU ("cpu") or memory ("memory") over the healthy, schedulable hosts, and the worst single loss."""
    def total(h: HostSnapshot) -> float:
        return h.total_cpu if resource == "cpu" else h.total_mem_mb

    def reserved(h: HostSnapshot) -> float:
        return h.reserved_cpu if resource == "cpu" else h.reserved_mem_mb

    takes = [h for h in snapshot if h.healthy and h.schedulable]
    free = {h.id: max(total(h) - reserved(h), 0.0) for h in takes}
    all_free = sum(free.values())
    worst, spare = None, all_free
    for h in snapshot:
        if reserved(h) <= 0:
            continue
        left = all_free - free.get(h.id, 0.0) - reserved(h)
        if worst is None or left < spare:
            worst, spare = h.id, left
    return ResourceRoom(resource, sum(total(h) for h in takes), sum(reserved(h) for h in takes), all_free,
                        worst, spare)


def reduction(before: Request, request: Request) -> int:
    """At most how many fewer replicas of `request` a host takes once one replica of `before` is on it
    (floor(F / r) - floor((F - b) / r) <= ceil(b / r) per resource; a request with host ports takes 1 at most)."""
    if request.ports:
        return 1
    worst = 0
    if request.cpus > 0 and before.cpus > 0:
        worst = math.ceil(before.cpus / request.cpus)  # rounding up only ever places a loss that was safe
    if request.memory_mb > 0 and before.memory_mb > 0:
        worst = max(worst, -(-before.memory_mb // request.memory_mb))
    return worst


def surely_survives(host: HostSnapshot, demands: Mapping[str, Demand], room: Mapping[str, int | None],
                    fits: Mapping[str, Mapping[str, int | None]]) -> bool:
    """True when losing `host` cannot strand a replica, without placing any: for each of its apps in the order a
    what-if places them, the room left elsewhere minus the most the apps placed before it could take of it still
    holds its replicas (the placer fills every host a replica fits on, so it strands none then). False: not sure."""
    placed_before: list[tuple[Request, int]] = []
    for app, n in sorted(host.replicas.items()):
        demand = demands.get(app)
        if demand is None or n <= 0:
            continue
        total, here = room[app], fits[app].get(host.id, 0)
        if total is not None:
            if here is None:
                return False
            left = total - here - sum(k * reduction(b, demand.request) for b, k in placed_before)
            if left < n:
                return False
        placed_before.append((demand.request, n))
    return True


def headroom(snapshot: Snapshot, demands: Mapping[str, Demand], weights: WeightsLike = None) -> Headroom:
    """Per app the replicas that still fit; per host holding replicas what its loss alone strands (placed as a
    drain places them); CPU and memory overall. Apps without a demand (no spec known) are left out.

    A host whose loss `surely_survives` is not placed at all: N-1 over 1,000 hosts stays O(hosts x apps) when the
    cluster has room, and only the doubtful losses are placed in full."""
    names = sorted(demands)
    fits = {name: {h.id: fits_on(h, demands[name].request) for h in snapshot} for name in names}
    room: dict[str, int | None] = {}
    for name in names:
        counts = list(fits[name].values())
        room[name] = None if any(c is None for c in counts) else sum(c or 0 for c in counts)
    apps = tuple(app_room(snapshot, demands[name].request) for name in names)
    losses, placed = [], 0
    for h in snapshot:
        if not any(h.replicas.values()):
            continue
        if surely_survives(h, demands, room, fits):
            losses.append(HostLoss(h.id, sum(h.replicas.values()), {}, {}))
            continue
        plan = lose_each(snapshot, demands, weights, hosts=[h.id])[h.id]
        placed += 1
        stranded = {a.app: a.stranded for a in plan.apps if a.plan is not None and a.stranded}
        why = {a.app: a.why or "" for a in plan.apps if a.app in stranded}
        losses.append(HostLoss(h.id, sum(a.count for a in plan.apps), stranded, why))
    return Headroom(apps, tuple(losses), resource_room(snapshot, "cpu"), resource_room(snapshot, "memory"), placed)


def as_result(room: Headroom, visible: Callable[[str], bool] = lambda app: True) -> HeadroomResult:
    """The typed answer; apps `visible` hides are left out (and so are the losses that strand only them)."""
    from paasops.results import AppHeadroom, HostLossView, ResourceHeadroom
    from paasops.results import Headroom as Result

    def resource(r: ResourceRoom) -> ResourceHeadroom:
        return ResourceHeadroom(resource=r.resource, total=round(r.total, 6), reserved=round(r.reserved, 6),
                                free=round(r.free, 6), worst_host=r.worst_host,
                                spare_after_worst=round(r.spare_after_worst, 6), survives=r.survives)

    losses = []
    for loss in room.losses:
        stranded = {app: n for app, n in loss.stranded.items() if visible(app)}
        losses.append(HostLossView(host=loss.host, replicas=loss.replicas, survives=not stranded,
                                   stranded=stranded, why={app: loss.why[app] for app in stranded}))
    return Result(survives=all(x.survives for x in losses),
                  apps=[AppHeadroom(app=a.app, more=a.more, hosts=a.hosts, limit=a.limit)
                        for a in room.apps if visible(a.app)],
                  losses=losses, cpu=resource(room.cpu), memory=resource(room.memory))
