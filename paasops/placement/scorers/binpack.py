"""Scorer: bin packing, the host that is most allocated after the replica wins."""

from __future__ import annotations

NAME = "binpack"


def terms(
    reserved_cpu: float, req_cpu: float, total_cpu: float,
    reserved_mem: float, req_mem: float, total_mem: float,
    w_cpu: float, w_mem: float,
) -> tuple[float, float]:
    """cpu = (reserved_cpu + req_cpu)/total_cpu * w_cpu; mem likewise with w_mem."""
    cpu = (reserved_cpu + req_cpu) / total_cpu * w_cpu if total_cpu > 0 else 0.0
    mem = (reserved_mem + req_mem) / total_mem * w_mem if total_mem > 0 else 0.0
    return cpu, mem


def rank_key(score: float, replicas: int, host_id: str, index: int) -> tuple:
    """Smallest key wins: highest (most allocated) score, then lowest host id."""
    return (-score, host_id, index)
