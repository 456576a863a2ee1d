"""Replicas as data: their numbers, labels, placement request and which go on a scale-down (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..placement import Request
from ..spec import AppSpec, container_labels
from ..vocabulary import LABEL_CPUS, LABEL_MEMORY, LABEL_PORTS, LABEL_REPLICA
from .containers import ContainerView


def replica_index(c: ContainerView) -> int:
    """The replica number a container carries in its label; 0 when it has none (or a bad one)."""
    try:
        return int(c.labels.get(LABEL_REPLICA, "0"))
    except ValueError:
        return 0


def free_indexes(taken: Iterable[int], count: int) -> list[int]:
    """The `count` smallest replica numbers from 1 up that no container holds yet."""
    used = set(taken)
    out: list[int] = []
    i = 1
    while len(out) < count:
        if i not in used:
            out.append(i)
        i += 1
    return out


def replica_labels(spec: AppSpec, deployment_id: str, index: int) -> dict[str, str]:
    """Every label a replica is started with: the app's, its number and what it reserves."""
    return {**container_labels(spec, deployment_id), LABEL_REPLICA: str(index),
            LABEL_CPUS: f"{spec.cpus:g}", LABEL_MEMORY: str(spec.memory_mb),
            LABEL_PORTS: ",".join(str(p.host) for p in spec.ports if p.host)}


def request_for(spec: AppSpec) -> Request:
    """What placement is asked for one replica of `spec`."""
    return Request(spec.name, cpus=spec.cpus, memory_mb=spec.memory_mb,
                   ports=tuple(p.host for p in spec.ports if p.host), constraints=tuple(spec.constraints))


def scale_down_victims(current: Iterable[ContainerView], order: Sequence[str]) -> list[ContainerView]:
    """The replicas to remove, one per host in `order` (placement's scale-down order): on a host,
    the highest-numbered replica goes first. A host named more often than it has replicas is a ValueError.
    """
    by_host: dict[str, list[ContainerView]] = {}
    for c in sorted(current, key=replica_index):
        by_host.setdefault(c.engine_id, []).append(c)
    victims = []
    for host in order:
        if not by_host.get(host):
            raise ValueError(f"no replica left on {host} to remove")
        victims.append(by_host[host].pop())
    return victims
