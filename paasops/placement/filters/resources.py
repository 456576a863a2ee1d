"""Filter: the host has the CPU and memory left for one more replica (reserved + request <= total)."""

from __future__ import annotations

from paasops.placement.model import HostSnapshot, Request

NAME = "resources"

# CPU shares are floats: 0.1 + 0.1 + 0.1 must still fit in 0.3.
EPSILON = 1e-9


def check(host: HostSnapshot, request: Request) -> str | None:
    problems = []
    if host.reserved_cpu + request.cpus > host.total_cpu + EPSILON:
        free = max(host.total_cpu - host.reserved_cpu, 0.0)
        problems.append(f"cpu: needs {request.cpus:g} CPUs, {free:g} free")
    if host.reserved_mem_mb + request.memory_mb > host.total_mem_mb:
        free_mb = max(host.total_mem_mb - host.reserved_mem_mb, 0)
        problems.append(f"memory: needs {request.memory_mb} MB, {free_mb} MB free")
    return " and ".join(problems) or None
