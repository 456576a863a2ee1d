"""The routes the edges serve, computed from apps, replicas and hosts (pure): values, conflicts, diffs, views."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import UserInputError
from ..expose import Expose, endpoint_urls, parse_expose
from ..results import RouteBackend, RouteEdge, RouteView
from ..vocabulary import BACKEND_DRAIN, BACKEND_READY, DEGRADED, UP
from .containers import ContainerView

ROUTED_STATUSES = frozenset({UP, DEGRADED})  # hosts whose ready replicas are served (not suspect, down, leaving)
ID_LENGTH = 12
PEM_CERT_RE = re.compile(r"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.S)


@dataclass(frozen=True)
class Host:
    """What routing needs of an engine: where its published ports answer, and its status."""

    address: str
    status: str


def exposes(apps: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, Expose]:
    """App name → its `expose`, for the apps (name, stored spec) that have a valid one."""
    out = {}
    for name, spec in apps:
        try:
            expose = parse_expose(spec.get("expose"))
        except ValueError:  # validated when written: a bad record is not routed rather than break the rest
            continue
        if expose is not None:
            out[name] = expose
    return out


def published_port(view: ContainerView, port: int, *, ipv6: bool = False) -> int | None:
    """The host port `view` publishes container tcp port `port` on, for an address of the family asked (an
    engine may give IPv4 and IPv6 different ephemeral ports); another family's only when none is listed for it."""
    found = [p for p in view.ports
             if p.get("container") == port and p.get("protocol", "tcp") == "tcp" and p.get("host_port")]
    family = [p for p in found if (":" in (p.get("host_ip") or "")) == ipv6]
    ports = [p["host_port"] for p in family or found]
    return min(ports) if ports else None


def backends(app: str, expose: Expose, containers: Iterable[ContainerView], hosts: Mapping[str, Host],
             withdrawn: frozenset[str] | set[str] = frozenset()) -> list[dict[str, Any]]:
    """The app's ready replicas on routed hosts with a published `expose.port`, sorted by name; those in
    `withdrawn` (container ids about to stop) as drain."""
    out = []
    for c in containers:
        host = hosts.get(c.engine_id)
        if c.app != app or not c.ready or host is None or host.status not in ROUTED_STATUSES:
            continue
        port = published_port(c, expose.port, ipv6=":" in host.address)
        if port is None:
            continue
        out.append({"id": c.id[:ID_LENGTH], "name": c.name, "address": host.address, "port": port,
                    "state": BACKEND_DRAIN if c.id in withdrawn else BACKEND_READY})
    return sorted(out, key=lambda b: (b["name"], b["id"]))


def route_value(app: str, expose: Expose, backend_list: list[dict[str, Any]]) -> dict[str, Any]:
    """`/paasops/routes/<app>`'s value, as the contract of issue 11 says."""
    http = expose.tcp is None
    return {"app": app, "mode": expose.mode,
            "hostnames": list(expose.hostnames or []) if http else [], "path": expose.path if http else None,
            "https_redirect": expose.https_redirect if http else False, "tcp_port": expose.tcp,
            "backends": backend_list}


def route_table(apps: Iterable[tuple[str, Mapping[str, Any]]], containers: Iterable[ContainerView],
                hosts: Mapping[str, Host], withdrawn: frozenset[str] | set[str] = frozenset()) -> dict[str, dict]:
    """Every exposed app's route value, by app name."""
    containers = list(containers)
    return {name: route_value(name, expose, backends(name, expose, containers, hosts, withdrawn))
            for name, expose in exposes(apps).items()}


# -- conflicts (plan time) ---------------------------------------------------------------------
def claims(expose: Expose) -> dict[tuple, str]:
    """What an expose takes on the edges, each with how to say it: (host, path) pairs or the tcp port."""
    if expose.tcp is not None:
        return {("tcp", expose.tcp): f"expose.tcp: port {expose.tcp}"}
    return {("http", host, expose.path): f"expose.hostnames: {host}{expose.path}" for host in expose.hostnames or []}


def check_conflicts(app: str, expose: Expose | None, routed: Mapping[str, Expose]) -> None:
    """Refuse (UserInputError) an expose whose hostname+path or tcp port another app of `routed` has."""
    if expose is None:
        return
    mine = claims(expose)
    for other, theirs in sorted(routed.items()):
        if other == app:
            continue
        taken = sorted(mine.keys() & claims(theirs).keys(), key=str)
        if taken:
            what = ", ".join(mine[k].split(": ", 1)[1] for k in taken)
            field = mine[taken[0]].split(": ", 1)[0]
            raise UserInputError(f"{field}: {what} is already routed to app {other!r}: choose another "
                                 f"{'port' if expose.tcp is not None else 'hostname or path'}, or change {other}",
                                 where=app)


# -- publishing --------------------------------------------------------------------------------
def encode(value: Mapping[str, Any]) -> bytes:
    """A key's value as the service writes it (compact, keys sorted: an unchanged route is the same bytes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def changes(desired: Mapping[str, bytes], current: Mapping[str, bytes]) -> tuple[dict[str, bytes], list[str]]:
    """Keys to put (new or changed values) and keys to delete (no longer desired) to make `current` `desired`."""
    puts = {k: v for k, v in desired.items() if current.get(k) != v}
    return puts, sorted(k for k in current if k not in desired)


def cert_fingerprint(pem: str) -> str:
    """sha256 hex of the first certificate of a PEM bundle (DER), '' if it holds none."""
    m = PEM_CERT_RE.search(pem)
    if not m:
        return ""
    try:
        der = base64.b64decode("".join(m.group(1).split()), validate=True)
    except ValueError:
        return ""
    return hashlib.sha256(der).hexdigest()


def cert_value(hostname: str, pem: str) -> dict[str, str]:
    """`/paasops/edge-certs/<hostname>`'s value: the chain and key PEM and the cert's fingerprint."""
    return {"hostname": hostname, "pem": pem, "fingerprint": cert_fingerprint(pem)}


def published_ready(value: Mapping[str, Any] | None, container_id: str) -> bool:
    """Whether a route value serves container `container_id` as ready."""
    short = container_id[:ID_LENGTH]
    return any(b.get("id") == short and b.get("state") == BACKEND_READY for b in (value or {}).get("backends", []))


def parse_json(raw: bytes | str | None) -> dict[str, Any] | None:
    """A JSON object from etcd, None if it is not one."""
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def edges_applied(edges: Mapping[str, Mapping[str, Any]], live: Iterable[str], revision: int) -> list[str]:
    """The live edges (engine ids) whose agent has not applied `revision` yet (waited for after a drain)."""
    return sorted(e for e in live if int((edges.get(e) or {}).get("revision") or 0) < revision)


# -- views -------------------------------------------------------------------------------------
def route_view(value: Mapping[str, Any], *, revision: int = 0, edges: Mapping[str, Mapping[str, Any]] | None = None,
               edge_addresses: Mapping[str, str] | None = None, edge_status: Mapping[str, str] | None = None,
               https_hosts: frozenset[str] = frozenset()) -> RouteView:
    """A route as `GET /api/routes` shows it: its backends and, per edge, which of them it serves, how far
    behind this route's `revision` it is (0: current) and its last error."""
    edges = edges or {}
    app = str(value.get("app", ""))
    addresses = [a for e, a in sorted((edge_addresses or {}).items()) if e in edges or not edges]
    rows = []
    for engine_id, edge in sorted(edges.items()):
        servers = edge.get("servers") or {}
        serving = {key.split("/", 1)[1]: state for key, state in servers.items()
                   if isinstance(key, str) and key.startswith(app + "/")}
        applied = int(edge.get("revision") or 0)
        rows.append(RouteEdge(engine=engine_id, status=(edge_status or {}).get(engine_id, "unknown"),
                              revision=applied, lag=max(0, revision - applied), current=applied >= revision,
                              applied_at=edge.get("applied_at"), error=edge.get("error"), serving=serving))
    return RouteView(app=app, mode=str(value.get("mode", "")), hostnames=list(value.get("hostnames") or []),
                     path=value.get("path"), https_redirect=bool(value.get("https_redirect")),
                     tcp_port=value.get("tcp_port"), revision=revision,
                     urls=endpoint_urls(list(value.get("hostnames") or []), value.get("path"), value.get("tcp_port"),
                                        addresses, https_hosts=https_hosts),
                     backends=[RouteBackend(**b) for b in value.get("backends") or []], edges=rows)
