"""Which hosts lose replicas when an app scales down: the most loaded first, one replica at a time."""

from __future__ import annotations

from collections.abc import Iterable
from heapq import heapify, heappop, heapreplace

from paasops.errors import UserInputError
from paasops.placement.model import HostSnapshot, Weights, WeightsLike


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
    state = {}
    heap = []
    for host in hosts:
        count = host.replicas.get(app, 0)
        if count <= 0:
            continue
        state[host.id] = [host.reserved_cpu, host.reserved_mem_mb, count, host]
        share = load(host.reserved_cpu, host.total_cpu, host.reserved_mem_mb, host.total_mem_mb, w.cpu, w.memory)
        heap.append((-share, -count, host.id))
    heapify(heap)
    order = []
    while heap and len(order) < n:
        host_id = heap[0][2]
        order.append(host_id)
        entry = state[host_id]
        host = entry[3]
        entry[0] = max(entry[0] - cpus, 0.0)
        entry[1] = max(entry[1] - memory_mb, 0)
        entry[2] -= 1
        if entry[2] == 0:
            heappop(heap)
            continue
        share = load(entry[0], host.total_cpu, entry[1], host.total_mem_mb, w.cpu, w.memory)
        heapreplace(heap, (-share, -entry[2], host_id))
    return order
