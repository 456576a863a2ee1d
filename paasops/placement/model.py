"""Input data of the scheduler: host snapshots, a replica request and the score weights."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field

from paasops.errors import SpecError, UserInputError
from paasops.placement.labels import parse


@dataclass(frozen=True, slots=True, kw_only=True)
class HostSnapshot:
    """One host as the scheduler sees it at planning time; never mutated by the placer."""

    id: str
    total_cpu: float
    total_mem_mb: int
    address: str = ""
    healthy: bool = True
    schedulable: bool = True  # False: drained by an admin, it takes no new replica
    status: str = "healthy"
    labels: Mapping[str, str] = field(default_factory=dict)
    reserved_cpu: float = 0.0
    reserved_mem_mb: int = 0
    used_ports: frozenset[int] = frozenset()
    replicas: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.used_ports, frozenset):
            object.__setattr__(self, "used_ports", frozenset(self.used_ports))


Snapshot = Sequence[HostSnapshot]


@dataclass(frozen=True, slots=True)
class Request:
    """What one replica of an app needs; every replica of a batch asks for the same."""

    app: str
    _: KW_ONLY
    cpus: float = 0.0
    memory_mb: int = 0
    ports: tuple[int, ...] = ()
    constraints: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "ports", tuple(self.ports))
        object.__setattr__(self, "constraints", tuple(self.constraints))
        if not self.app:
            raise SpecError("app name is empty", where="app")
        if not (self.cpus >= 0 and math.isfinite(self.cpus)):
            raise SpecError(f"cpus must be a finite number >= 0, not {self.cpus!r}", where="cpus")
        if self.memory_mb < 0:
            raise SpecError(f"memory must be >= 0 MB, not {self.memory_mb!r}", where="memory")
        for port in self.ports:
            if not (isinstance(port, int) and 1 <= port <= 65535):
                raise SpecError(f"host port must be 1-65535, not {port!r}", where="ports")
        for expr in self.constraints:
            parse(expr)


@dataclass(frozen=True, slots=True)
class Weights:
    """Weights of the CPU and memory terms of a score (thesis 4.2: 65 and 35)."""

    cpu: float = 65.0
    memory: float = 35.0

    def __post_init__(self) -> None:
        for name in ("cpu", "memory"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise UserInputError(f"weight must be a finite number >= 0, not {value!r}", where=f"weights.{name}")
        if self.cpu + self.memory <= 0:
            raise UserInputError("the cpu and memory weights are both 0", where="weights")

    @classmethod
    def of(cls, value: WeightsLike) -> Weights:
        """Accept None (the default), a Weights, {"cpu": .., "memory": ..} or a (cpu, memory) pair."""
        if value is None:
            return cls()
        if isinstance(value, Weights):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"cpu", "memory"}
            if unknown:
                raise UserInputError(f"unknown weight(s) {', '.join(sorted(unknown))}", where="weights")
            return cls(**value)
        pair = tuple(value)
        if len(pair) != 2:
            raise UserInputError(f"weights must be a (cpu, memory) pair, not {pair!r}", where="weights")
        return cls(*pair)


WeightsLike = Weights | Mapping[str, float] | tuple[float, float] | None
