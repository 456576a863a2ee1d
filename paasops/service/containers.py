"""What the service knows of one container, read from the engine's sparse list (labels carry the rest)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConflictError, ForbiddenError, NotFoundError, UserInputError
from ..health_check import health_from_status, is_ready
from ..results import ContainerInfo, Port
from ..vocabulary import (
    HEALTH_NONE,
    HEALTH_UNHEALTHY,
    LABEL_APP,
    LABEL_CPUS,
    LABEL_DEPLOYMENT,
    LABEL_MEMORY,
    LABEL_PORTS,
    LABEL_SPEC_HASH,
)

MIN_PREFIX = 3  # an id prefix shorter than this only matches a whole name or id
# States in which a container holds its reservation on its host.
RESERVING = frozenset({"created", "running", "restarting", "paused"})


@dataclass
class ContainerView:
    id: str
    name: str
    engine_id: str
    image: str
    state: str
    status: str = ""
    created: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    ports: list[dict[str, Any]] = field(default_factory=list)  # {container, protocol, host_ip, host_port}

    @property
    def app(self) -> str | None:
        return self.labels.get(LABEL_APP)

    @property
    def spec_hash(self) -> str | None:
        return self.labels.get(LABEL_SPEC_HASH)

    @property
    def deployment(self) -> str | None:
        return self.labels.get(LABEL_DEPLOYMENT)

    @property
    def health(self) -> str:
        """healthy | unhealthy | starting | none, as the engine lists it (health_status events refresh it)."""
        return health_from_status(self.status) if self.state == "running" else HEALTH_NONE

    @property
    def ready(self) -> bool:
        """Running and healthy, or running with no health check."""
        return is_ready(self.state, self.health)

    @property
    def unhealthy(self) -> bool:
        return self.health == HEALTH_UNHEALTHY

    @property
    def cpus(self) -> float:
        return float(self.labels.get(LABEL_CPUS, 0) or 0)

    @property
    def memory_mb(self) -> int:
        return int(self.labels.get(LABEL_MEMORY, 0) or 0)

    @property
    def managed(self) -> bool:
        """Whether paasops started it (it carries the app label); paasops acts on no other container."""
        return self.app is not None

    @property
    def reserving(self) -> bool:
        return self.state in RESERVING and self.app is not None

    @property
    def host_ports(self) -> set[int]:
        """Host ports this container holds: the ones published now and the fixed ones it asked for."""
        published = {p["host_port"] for p in self.ports if p.get("host_port")}
        asked = {int(p) for p in self.labels.get(LABEL_PORTS, "").split(",") if p}
        return published | (asked if self.state in RESERVING else set())

    def info(self) -> ContainerInfo:
        """The container as the API shows it."""
        return ContainerInfo(id=self.id, name=self.name, engine=self.engine_id, image=self.image, state=self.state,
                             status=self.status, created=self.created, app=self.app, deployment=self.deployment,
                             spec_hash=self.spec_hash, cpus=self.cpus, memory_mb=self.memory_mb, labels=self.labels,
                             ports=[Port(**p) for p in self.ports], health=self.health, ready=self.ready)


def from_sparse(engine_id: str, entry: dict[str, Any]) -> ContainerView:
    """A ContainerView from one item of GET /containers/json."""
    names = entry.get("Names") or ["/" + entry["Id"][:12]]
    ports = [{"container": p.get("PrivatePort"), "protocol": p.get("Type", "tcp"),
              "host_ip": p.get("IP", ""), "host_port": p.get("PublicPort")}
             for p in entry.get("Ports") or []]
    # an engine lists a port once per address family; keep one per (container port, host port)
    unique = {(p["container"], p["protocol"], p["host_port"]): p for p in ports}
    return ContainerView(id=entry["Id"], name=names[0].lstrip("/"), engine_id=engine_id,
                         image=entry.get("Image", ""), state=entry.get("State", ""),
                         status=entry.get("Status", ""), created=float(entry.get("Created", 0)),
                         labels=dict(entry.get("Labels") or {}), ports=list(unique.values()))


def match_container(prefix: str, views: Iterable[ContainerView]) -> ContainerView:
    """The container whose id or name is `prefix`, else the one whose id starts with it (3+ characters).

    No match is a 404, several a 409 naming the candidates.
    """
    if not prefix:
        raise UserInputError("empty container id", where="container")
    matches = []
    for c in views:
        if c.id == prefix or c.name == prefix:
            return c
        if len(prefix) >= MIN_PREFIX and c.id.startswith(prefix):
            matches.append(c)
    if not matches:
        raise NotFoundError(f"no container {prefix!r}", where="containers")
    if len(matches) > 1:
        names = ", ".join(f"{c.id[:12]} ({c.name} on {c.engine_id})" for c in matches[:10])
        raise ConflictError(f"id prefix {prefix!r} is ambiguous: {names}", where="containers")
    return matches[0]


def match_managed(prefix: str, views: Iterable[ContainerView], *, foreign: bool = False) -> ContainerView:
    """Like `match_container`, among paasops' containers only (all of them if `foreign`, to look at others).

    A prefix that names only a container paasops did not start is a 403 saying so, not a 404.
    """
    views = list(views)
    if foreign:
        return match_container(prefix, views)
    try:
        return match_container(prefix, [c for c in views if c.managed])
    except NotFoundError:
        try:
            other = match_container(prefix, [c for c in views if not c.managed])
        except (NotFoundError, ConflictError):
            other = None
        if other is not None:
            raise ForbiddenError(f"container {other.name} ({other.id[:12]}) on {other.engine_id} was not started "
                                 f"by paasops (no {LABEL_APP} label): paasops does not act on it",
                                 where="containers") from None
        raise
