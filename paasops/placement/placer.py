"""Successive batch placement with a heap: O(H) to filter and score once, then O(log H) per replica."""

from __future__ import annotations

from dataclasses import replace
from heapq import heapify, heappop, heapreplace
from types import MappingProxyType
from typing import Any

from paasops.errors import PlacementError, UserInputError
from paasops.placement.filters import first_rejection
from paasops.placement.filters.resources import EPSILON
from paasops.placement.model import HostSnapshot, Request, Snapshot, Weights, WeightsLike
from paasops.placement.plan import Assignment, HostExplanation, Plan, Unplaced
from paasops.placement.scorers import get_strategy


def place(
    snapshot: Snapshot,
    request: Request,
    count: int,
    strategy: str = "thesis",
    weights: WeightsLike = None,
) -> Plan:
    """Place `count` replicas one after the other, each seeing the reservations of those before it."""
    if count < 0:
        raise UserInputError(f"replica count must be >= 0, not {count}", where="count")
    scorer = get_strategy(strategy)
    weights = Weights.of(weights)
    terms, rank_key = scorer.terms, scorer.rank_key
    w_cpu, w_mem = weights.cpu, weights.memory
    cpu, mem, app = request.cpus, request.memory_mb, request.app
    n = len(snapshot)

    ids: list[str] = [h.id for h in snapshot]
    if len(set(ids)) != n:
        seen: set[str] = set()
        for host_id in ids:
            if host_id in seen:
                raise UserInputError(f"duplicate host id {host_id!r}", where="snapshot")
            seen.add(host_id)
    before = [h.replicas.get(app, 0) for h in snapshot]
    rejections = [first_rejection(h, request) for h in snapshot]
    reserved_cpu = [h.reserved_cpu for h in snapshot]
    reserved_mem = [h.reserved_mem_mb for h in snapshot]
    total_cpu = [h.total_cpu for h in snapshot]
    total_mem = [h.total_mem_mb for h in snapshot]
    replicas = list(before)
    cpu_terms: list[float] = [0.0] * n
    mem_terms: list[float] = [0.0] * n
    scores: list[float] = [0.0] * n

    heap = []
    for i in range(n):
        if rejections[i] is None:
            c, m = terms(reserved_cpu[i], cpu, total_cpu[i], reserved_mem[i], mem, total_mem[i], w_cpu, w_mem)
            cpu_terms[i], mem_terms[i], scores[i] = c, m, c + m
            heap.append(rank_key(c + m, replicas[i], ids[i], i))
    initial = list(zip(scores, cpu_terms, mem_terms, strict=True))
    heapify(heap)

    # A host's score changes only when it gets a replica, so only that host is re-pushed
    # (heapreplace), or dropped when the next replica would no longer fit. Requested host
    # ports are then taken, so such a host never takes a second replica of the batch.
    has_ports = bool(request.ports)
    assignments: list[Assignment] = []
    append = assignments.append
    k = 0
    while k < count and heap:
        i = heap[0][-1]
        append(Assignment(k, ids[i], scores[i], cpu_terms[i], mem_terms[i]))
        k += 1
        r_cpu = reserved_cpu[i] = reserved_cpu[i] + cpu
        r_mem = reserved_mem[i] = reserved_mem[i] + mem
        r = replicas[i] = replicas[i] + 1
        # Same arithmetic as the resources filter, so the heap agrees with re-filtering.
        if has_ports or r_cpu + cpu > total_cpu[i] + EPSILON or r_mem + mem > total_mem[i]:
            heappop(heap)
            continue
        c, m = terms(r_cpu, cpu, total_cpu[i], r_mem, mem, total_mem[i], w_cpu, w_mem)
        cpu_terms[i], mem_terms[i], scores[i] = c, m, c + m
        heapreplace(heap, rank_key(c + m, r, ids[i], i))

    unplaced: tuple[Unplaced, ...] = ()
    if k < count:
        reasons = {}
        for i, host in enumerate(snapshot):
            rejection = rejections[i]
            if replicas[i] != before[i]:
                host = _after(host, request, reserved_cpu[i], reserved_mem[i], replicas[i])
                rejection = first_rejection(host, request)
            assert rejection is not None, "a host left out of the heap no longer fits"
            reasons[ids[i]] = rejection[1]
        frozen = MappingProxyType(reasons)
        unplaced = tuple(Unplaced(j, frozen) for j in range(k, count))

    explanation = tuple(
        HostExplanation(ids[i], True, *initial[i], before[i], replicas[i] - before[i], None, None)
        if rejection is None
        else HostExplanation(ids[i], False, None, None, None, before[i], 0, *rejection)
        for i, rejection in enumerate(rejections)
    )
    return Plan(app, scorer.NAME, weights, count, tuple(assignments), unplaced, explanation)


def _after(host: HostSnapshot, request: Request, reserved_cpu: float, reserved_mem: int, replicas: int) -> HostSnapshot:
    """The host as it would be once the plan's replicas are on it."""
    return replace(
        host,
        reserved_cpu=reserved_cpu,
        reserved_mem_mb=reserved_mem,
        used_ports=host.used_ports.union(request.ports),
        replicas={**host.replicas, request.app: replicas},
    )


def place_or_raise(
    snapshot: Snapshot,
    request: Request,
    count: int,
    strategy: str = "thesis",
    weights: WeightsLike = None,
) -> Plan:
    """Like place(), but raise PlacementError (carrying the plan as `.plan`) unless every replica is placed."""
    plan = place(snapshot, request, count, strategy, weights)
    if plan.unplaced:
        message = plan.failure_message()
        assert message is not None  # the plan has unplaced replicas
        # PlacementError (paasops/errors.py) declares no `plan` attribute: set it through an Any.
        err: Any = PlacementError(message)
        err.plan = plan
        raise err
    return plan
