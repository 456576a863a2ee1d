"""Budgeted rebalance: the replica moves that bring a cluster closest to what placement would choose today (pure).

A replica is worth moving when placement, asked today where that one replica goes (its own copy taken off its
host), would choose another host by more than a threshold. Each step takes the best such move over every app,
applies it to the snapshot and looks again, so the moves come best first and each sees those before it; the
reverse of a move scores the opposite of the move, so a plan applied and planned again has no moves left.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from heapq import heappop, heappush

from paasops.errors import UserInputError
from paasops.placement.filters import constraints, first_rejection, healthy, schedulable
from paasops.placement.model import HostSnapshot, Request, Snapshot, Weights, WeightsLike
from paasops.placement.scorers import get_strategy
from paasops.placement.whatif import Demand
from paasops.vocabulary import MAX_REBALANCE_MOVES

THRESHOLD = 1.0  # score points (out of cpu + memory weights, 65 + 35): a smaller gain is not worth a restart
MAX_MOVES = MAX_REBALANCE_MOVES  # the most moves one plan holds (and one run carries out)
SOURCE_FILTERS = (schedulable, healthy, constraints)  # a host these reject is drain's or reconcile's business

Indexes = Mapping[tuple[str, str], Sequence[int]]  # (app, host) -> the replica indexes of the app running there


@dataclass(frozen=True, slots=True)
class Move:
    """Replica `replica` of `app` (0: unnumbered) from `from_host` to `to_host`; `from_score` is what placement
    scores its own host with the replica taken off, `to_score` the target's; `improvement` is their gap (spread:
    plus twice the weights per replica of the app's imbalance between the two)."""

    app: str
    replica: int
    from_host: str
    to_host: str
    improvement: float
    from_score: float
    to_score: float


@dataclass(frozen=True, slots=True)
class Rebalance:
    """The moves, best first (each planned on the cluster the moves before it leave), and that cluster after all."""

    moves: tuple[Move, ...]
    hosts: tuple[HostSnapshot, ...]
    cut: bool = False  # `max_moves` stopped it with moves still worth making


def check_budget(max_moves: int | None, where: str = "max_moves") -> int:
    """A move budget between 1 and MAX_MOVES (None: MAX_MOVES); anything else is a UserInputError."""
    if max_moves is None:
        return MAX_MOVES
    if isinstance(max_moves, bool) or not isinstance(max_moves, int) or not 1 <= max_moves <= MAX_MOVES:
        raise UserInputError(f"the move budget must be 1 to {MAX_MOVES}, not {max_moves!r}", where=where)
    return max_moves


def _score(scorer, host: HostSnapshot, reserved_cpu: float, reserved_mem: float, request: Request,
           weights: Weights) -> float:
    c, m = scorer.terms(reserved_cpu, request.cpus, host.total_cpu, reserved_mem, request.memory_mb,
                        host.total_mem_mb, weights.cpu, weights.memory)
    return c + m


def without_one(host: HostSnapshot, request: Request) -> HostSnapshot:
    """`host` with one replica of `request`'s app taken off (its reservation, and its host ports once none is left)."""
    left = host.replicas.get(request.app, 0) - 1
    return replace(host, reserved_cpu=max(host.reserved_cpu - request.cpus, 0.0),
                   reserved_mem_mb=max(host.reserved_mem_mb - request.memory_mb, 0),
                   used_ports=host.used_ports.difference(request.ports) if left <= 0 else host.used_ports,
                   replicas={**host.replicas, request.app: max(left, 0)})


def with_one(host: HostSnapshot, request: Request) -> HostSnapshot:
    """`host` with one more replica of `request`'s app on it."""
    return replace(host, reserved_cpu=host.reserved_cpu + request.cpus,
                   reserved_mem_mb=host.reserved_mem_mb + request.memory_mb,
                   used_ports=host.used_ports.union(request.ports),
                   replicas={**host.replicas, request.app: host.replicas.get(request.app, 0) + 1})


def best_move(hosts: Sequence[HostSnapshot], app: str, demand: Demand, weights: Weights,
              threshold: float, indexes: dict[tuple[str, str], list[int]] | None) -> Move | None:
    """The app's one move that gains the most (more than `threshold`), or None: no replica would be placed
    elsewhere by that much. Targets pass every filter as they are now; sources keep passing the schedulable,
    healthy and constraints filters (a host those reject is drained, down or no longer the app's to hold).
    The naive reference of `Candidates.best` (every host scored again at every step), for the tests."""
    request, scorer = demand.request, get_strategy(demand.strategy)
    spread = demand.strategy == "spread"
    targets = []
    for h in hosts:
        if first_rejection(h, request) is None:
            score = _score(scorer, h, h.reserved_cpu, h.reserved_mem_mb, request, weights)
            targets.append((scorer.rank_key(score, h.replicas.get(app, 0), h.id, 0), score, h))
    targets.sort(key=lambda t: t[0])
    best: Move | None = None
    for s in hosts:
        count = s.replicas.get(app, 0)
        if count <= 0 or (indexes is not None and not indexes.get((app, s.id))):
            continue
        alone = without_one(s, request)
        if any(f.check(alone, request) is not None for f in SOURCE_FILTERS):
            continue
        here = _score(scorer, s, alone.reserved_cpu, alone.reserved_mem_mb, request, weights)
        target = next((t for t in targets[:2] if t[2].id != s.id), None)
        if target is None:
            continue
        _, there, t = target
        gain = there - here
        worth = gain > threshold
        if spread:
            gap = (count - 1) - t.replicas.get(app, 0)  # placement takes the host with fewer replicas first
            worth = gap > 0 or (gap == 0 and gain > threshold)
            gain += gap * 2 * (weights.cpu + weights.memory)  # a replica of imbalance outweighs any score gap
        if not worth or (best is not None and (-gain, s.id) >= (-best.improvement, best.from_host)):
            continue
        replica = max(indexes[(app, s.id)]) if indexes is not None else 0
        best = Move(app, replica, s.id, t.id, gain, here, there)
    return best


class Candidates:
    """One app's moves to choose from, kept as two lazy heaps so a move updates two hosts, not the whole cluster:
    targets by what placement ranks them (`there`; spread: minus twice the weights per replica of the app there)
    and sources by what their replica gains by leaving (spread: plus twice the weights per replica). An entry whose
    host changed since (its version) is dropped when it comes to the top."""

    def __init__(self, app: str, demand: Demand, weights: Weights):
        self.app, self.request, self.weights = app, demand.request, weights
        self.scorer = get_strategy(demand.strategy)
        self.spread = demand.strategy == "spread"
        self.per_replica = 2 * (weights.cpu + weights.memory) if self.spread else 0.0
        self.targets: list[tuple[float, str, int, float, int]] = []  # (-value, host, version, score, replicas)
        self.sources: list[tuple[float, str, int, float, int]] = []

    def update(self, h: HostSnapshot, version: int, indexes: Mapping[tuple[str, str], Sequence[int]] | None) -> None:
        """Enter host `h` as it is now (`version`): as a target if every filter takes a replica, as a source if
        it holds one that may move (listed in `indexes`) and the source filters still take it."""
        request, count = self.request, h.replicas.get(self.app, 0)
        if first_rejection(h, request) is None:
            there = _score(self.scorer, h, h.reserved_cpu, h.reserved_mem_mb, request, self.weights)
            heappush(self.targets, (self.per_replica * count - there, h.id, version, there, count))
        if count > 0 and (indexes is None or indexes.get((self.app, h.id))):
            alone = without_one(h, request)
            if all(f.check(alone, request) is None for f in SOURCE_FILTERS):
                here = _score(self.scorer, h, alone.reserved_cpu, alone.reserved_mem_mb, request, self.weights)
                heappush(self.sources, (here - self.per_replica * count, h.id, version, here, count))

    @staticmethod
    def _top2(heap: list, versions: Mapping[str, int]) -> list:
        """The two best entries still current (fewer when there are not two)."""
        out: list = []
        while heap and len(out) < 2:
            entry = heappop(heap)
            if entry[2] == versions[entry[1]]:
                out.append(entry)
        for entry in out:
            heappush(heap, entry)
        return out

    def best(self, versions: Mapping[str, int], threshold: float,
             indexes: Mapping[tuple[str, str], Sequence[int]] | None) -> Move | None:
        """The app's move that gains the most, if it gains more than `threshold` (spread: or evens out the
        replica counts): the best target and the best source, or the second of one when both are the same host."""
        targets, sources = self._top2(self.targets, versions), self._top2(self.sources, versions)
        pairs = [(t, s) for t in targets[:2] for s in sources[:2] if t[1] != s[1]]
        if not pairs:
            return None
        t, s = min(pairs, key=lambda p: (p[0][0] + p[1][0], p[1][1], p[0][1]))
        there, here = t[3], s[3]
        gain, worth = there - here, there - here > threshold
        if self.spread:
            gap = (s[4] - 1) - t[4]  # placement takes the host with fewer replicas first
            worth = gap > 0 or (gap == 0 and gain > threshold)
            gain += gap * self.per_replica  # a replica of imbalance outweighs any score gap
        if not worth:
            return None
        replica = max(indexes[(self.app, s[1])]) if indexes is not None else 0
        return Move(self.app, replica, s[1], t[1], gain, here, there)


def rebalance(snapshot: Snapshot, demands: Mapping[str, Demand], *, apps: Callable[[str], bool] = lambda app: True,
              max_moves: int | None = None, threshold: float = THRESHOLD, weights: WeightsLike = None,
              indexes: Indexes | None = None) -> Rebalance:
    """Up to `max_moves` moves (1 to MAX_MOVES; None: MAX_MOVES) of the replicas of the apps `apps` lets through,
    each the best one left: the most improvement over every app, ties by app then source host name.

    `demands` says what each app's replica asks for (an app without one is never moved). With `indexes`, only the
    replicas it lists move, each move naming the highest index on its host; without, a move names replica 0.
    Each app's candidates are scored once per host, then again for the two hosts of each move only: O(apps x
    hosts) to start, O(apps x log hosts) a move. Pure: the snapshot is not changed."""
    budget = check_budget(max_moves)
    weights = Weights.of(weights)
    hosts = {h.id: h for h in snapshot}
    if len(hosts) != len(snapshot):
        raise UserInputError("duplicate host id", where="snapshot")
    left = None if indexes is None else {key: sorted(v) for key, v in indexes.items()}
    versions = dict.fromkeys(hosts, 0)
    candidates = [Candidates(name, demands[name], weights) for name in sorted(demands) if apps(name)]
    for c in candidates:
        for h in hosts.values():
            c.update(h, 0, left)
    moves: list[Move] = []
    while True:
        found = [m for c in candidates if (m := c.best(versions, threshold, left))]
        if not found:
            return Rebalance(tuple(moves), tuple(hosts.values()))
        if len(moves) >= budget:
            return Rebalance(tuple(moves), tuple(hosts.values()), cut=True)
        move = min(found, key=lambda m: (-m.improvement, m.app))
        request = demands[move.app].request
        hosts[move.from_host] = without_one(hosts[move.from_host], request)
        hosts[move.to_host] = with_one(hosts[move.to_host], request)
        if left is not None:
            left[(move.app, move.from_host)].remove(move.replica)
            left.setdefault((move.app, move.to_host), []).append(move.replica)
        for name in (move.from_host, move.to_host):
            versions[name] += 1
            for c in candidates:
                c.update(hosts[name], versions[name], left)
        moves.append(move)
