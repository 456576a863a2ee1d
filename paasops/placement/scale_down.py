"""Which hosts lose replicas when an app scales down: the most loaded first, one replica at a time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from heapq import heapify, heappop, heapreplace

from paasops.errors import UserInputError
from paasops.placement.model import HostSnapshot, Weights, WeightsLike


@dataclass
class _Remaining:
    """What is left of one host while replicas are taken off it."""

    cpu: float
    mem_mb: int
    count: int
    host: HostSnapshot


def load(
    reserved_cpu: float, total_cpu: float, reserved_mem: float, total_mem: float, w_cpu: float, w_mem: float
) -> float:
    """Weighted reserved share, 0 to 1 (more if overcommitted).

    load = (reserved_cpu/total_cpu * w_cpu + reserved_mem/total_mem * w_mem) / (w_cpu + w_mem)
    """
    cpu = reserved_cpu / total_cpu if total_cpu > 0 else 0.0
    mem = reserved_mem / total_mem if total_mem > 0 else 0.0
    return (cpu * w_cpu + mem * w_mem) / (w_cpu + w_mem)


def scale_down_order(
    hosts: Iterable[HostSnapshot],
    app: str,
    n: int,
    *,
    cpus: float = 0.0,
    memory_mb: int = 0,
    weights: WeightsLike = None,
) -> list[str]:
    """Host ids to remove `n` replicas of `app` from, in order (a host repeats if it loses several).

    Each removal frees the replica's `cpus` and `memory_mb` on its host before the next is chosen.
    Ties: more replicas of the app first, then the lowest host id. At most as many as exist.
    """
    if n < 0:
        raise UserInputError(f"number of replicas to remove must be >= 0, not {n}", where="count")
    w = Weights.of(weights)
    state: dict[str, _Remaining] = {}
    heap: list[tuple[float, int, str]] = []
    for host in hosts:
        count = host.replicas.get(app, 0)
        if count <= 0:
            continue
        state[host.id] = _Remaining(host.reserved_cpu, host.reserved_mem_mb, count, host)
        share = load(host.reserved_cpu, host.total_cpu, host.reserved_mem_mb, host.total_mem_mb, w.cpu, w.memory)
        heap.append((-share, -count, host.id))
    heapify(heap)
    order: list[str] = []
    while heap and len(order) < n:
        host_id = heap[0][2]
        order.append(host_id)
        entry = state[host_id]
        host = entry.host
        entry.cpu = max(entry.cpu - cpus, 0.0)
        entry.mem_mb = max(entry.mem_mb - memory_mb, 0)
        entry.count -= 1
        if entry.count == 0:
            heappop(heap)
            continue
        share = load(entry.cpu, host.total_cpu, entry.mem_mb, host.total_mem_mb, w.cpu, w.memory)
        heapreplace(heap, (-share, -entry.count, host_id))
    return order
