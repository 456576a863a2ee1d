"""Naive reference placer (the thesis method): re-filter, re-score and sort every host for every replica."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from paasops.errors import UserInputError
from paasops.placement.filters import first_rejection
from paasops.placement.model import HostSnapshot, Request, Snapshot, Weights, WeightsLike
from paasops.placement.plan import Assignment, HostExplanation, Plan, Unplaced
from paasops.placement.scorers import get_strategy


def naive_place(
    snapshot: Snapshot,
    request: Request,
    count: int,
    strategy: str = "thesis",
    weights: WeightsLike = None,
) -> Plan:
    """Same contract as place(), O(H log H) per replica; the tests and the benchmark compare the two."""
    if count < 0:
        raise UserInputError(f"replica count must be >= 0, not {count}", where="count")
    scorer = get_strategy(strategy)
    weights = Weights.of(weights)
    app = request.app
    hosts = list(snapshot)
    if len({h.id for h in hosts}) != len(hosts):
        raise UserInputError("duplicate host id", where="snapshot")

    def rank(host: HostSnapshot) -> tuple[float, float, float]:
        c, m = scorer.terms(
            host.reserved_cpu, request.cpus, host.total_cpu,
            host.reserved_mem_mb, request.memory_mb, host.total_mem_mb,
            weights.cpu, weights.memory,
        )
        return c + m, c, m

    explanation: list[HostExplanation] = []
    for host in hosts:
        rejection = first_rejection(host, request)
        existing = host.replicas.get(app, 0)
        if rejection is None:
            explanation.append(HostExplanation(host.id, True, *rank(host), existing, 0, None, None))
        else:
            explanation.append(HostExplanation(host.id, False, None, None, None, existing, 0, *rejection))

    assignments, unplaced = [], []
    for k in range(count):
        candidates, reasons = [], {}
        for i, host in enumerate(hosts):
            rejection = first_rejection(host, request)
            if rejection is not None:
                reasons[host.id] = rejection[1]
                continue
            score, c, m = rank(host)
            candidates.append((scorer.rank_key(score, host.replicas.get(app, 0), host.id, i), score, c, m))
        if not candidates:
            unplaced.append(Unplaced(k, MappingProxyType(reasons)))
            continue
        candidates.sort()
        key, score, c, m = candidates[0]
        i = key[-1]
        host = hosts[i]
        assignments.append(Assignment(k, host.id, score, c, m))
        hosts[i] = replace(
            host,
            reserved_cpu=host.reserved_cpu + request.cpus,
            reserved_mem_mb=host.reserved_mem_mb + request.memory_mb,
            used_ports=host.used_ports.union(request.ports),
            replicas={**host.replicas, app: host.replicas.get(app, 0) + 1},
        )

    placed: dict[str, int] = {}
    for a in assignments:
        placed[a.host_id] = placed.get(a.host_id, 0) + 1
    explanation = [e._replace(placed=placed.get(e.host_id, 0)) for e in explanation]
    return Plan(app, scorer.NAME, weights, count, tuple(assignments), tuple(unplaced), tuple(explanation))
