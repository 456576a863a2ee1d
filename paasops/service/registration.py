"""How engines come in, as plain data: etcd registrations, engines added by hand, how each is reached (no I/O)."""

from __future__ import annotations

import ipaddress
import json
import urllib.parse
from datetime import UTC, datetime
from typing import Any, TypeGuard

from ..errors import ForbiddenError, UserInputError
from ..store.records import Engine
from ..vocabulary import (
    ADMIN_ROLE,
    DOCKER_TLS_PORT,
    LEAVING,
    LOCAL_ENGINE,
    EngineEndpoint,
    docker_url,
    parse_docker_url,
)

ETCD_CLIENT_PORT = 2379
# The source of a tombstone in the store: an engine an admin removed, kept out until admitted again.
DENIED_SOURCE = "denied"
REFUSED_EVENT = "engine-refused"  # an engine that may not join: its registration and why
# Engine.meta key set when an admin allowed an engine to be reached over plain TCP (no TLS).
INSECURE_TCP = "insecure_tcp"


def parse_etcd_endpoint(endpoint: str) -> tuple[str, int, bool]:
    """(host, port, TLS) of an etcd client URL or `host[:port]`; no scheme means plain http, port 2379."""
    parts = urllib.parse.urlsplit(endpoint if "://" in endpoint else "http://" + endpoint)
    return parts.hostname or "127.0.0.1", parts.port or ETCD_CLIENT_PORT, parts.scheme == "https"


def etcd_transport_refusal(endpoints: list[str], *, insecure: bool = False) -> str | None:
    """Why the service may not speak to these etcd endpoints, or None. Whoever writes to etcd offers
    engines to the service, so etcd is reached over TLS with a client cert; plain http only when asked
    (`insecure`) and only on loopback, where no one else on the network can write to it."""
    for endpoint in endpoints:
        host, port, tls = parse_etcd_endpoint(endpoint)
        if tls:
            continue
        if not insecure:
            return (f"etcd endpoint {endpoint} is plain http: anyone who can write to it could offer engines. "
                    f"Use https:// (etcd with --client-cert-auth), or --insecure-etcd for an etcd on loopback")
        if not is_loopback(host):
            return (f"etcd endpoint {endpoint} is plain http on a non-loopback address: --insecure-etcd "
                    f"allows plain http on loopback only; use https:// with client certificates")
    return None


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 maybe in brackets) is this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def local_refusal(engine: Engine) -> str | None:
    """Why an engine from etcd or the API may not be the unix socket of this machine, or None.
    Only `serve --local-engine` adds it: a registration pointing there would hand this machine's
    Docker (and every container on it) to whoever wrote it."""
    url = engine.docker_url or ""
    if engine.address == LOCAL_ENGINE or engine.id == LOCAL_ENGINE or url.startswith(("unix:", "npipe:")):
        return (f"engine {engine.id}: address {engine.address!r} / {url or 'no url'} is this machine's own "
                f"Docker socket; only `paasops serve --local-engine` adds it")
    return None


def parse_engine(engine_id: str, raw: bytes | str) -> Engine:
    """An Engine from a registration value as bin/paasops-register writes it; ValueError if bad."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    if data.get("id", engine_id) != engine_id:
        raise ValueError(f"id {data.get('id')!r} differs from the key's {engine_id!r}")
    address = data.get("address")
    if not isinstance(address, str) or not address.strip():
        raise ValueError("address: expected a host name or IP address")
    port = data.get("docker_port", DOCKER_TLS_PORT)
    if not _is_int(port) or not 0 < port < 65536:
        raise ValueError(f"docker_port: expected a port number, got {port!r}")
    cpus, memory_mb = data.get("cpus"), data.get("memory_mb")
    if not _is_number(cpus) or cpus <= 0:
        raise ValueError(f"cpus: expected a positive number, got {cpus!r}")
    if not _is_number(memory_mb) or memory_mb <= 0:
        raise ValueError(f"memory_mb: expected a positive number, got {memory_mb!r}")
    labels = data.get("labels") or {}
    if not isinstance(labels, dict):
        raise ValueError("labels: expected an object")
    tls = data.get("tls", True)
    if not isinstance(tls, bool):
        raise ValueError(f"tls: expected true or false, got {tls!r}")
    url = data.get("docker_url") or docker_url(address, port, tls=tls)
    meta = {k: data[k] for k in ("registered_at", "published_by") if k in data}
    leaving = data.get(LEAVING, False)
    if not isinstance(leaving, bool):
        raise ValueError(f"{LEAVING}: expected true or false, got {leaving!r}")
    if leaving:  # its agent leaves on purpose: the lease is revoked next and the host removed
        meta[LEAVING] = True
    return Engine(id=engine_id, address=address, docker_url=url, cpus=float(cpus),
                  memory_mb=int(memory_mb), labels={str(k): str(v) for k, v in labels.items()},
                  tls=tls, source="etcd", meta=meta)


def engine_value(engine: Engine, *, registered_at: datetime | None = None) -> str:
    """The registration value the service publishes for an engine it already knows (now, by default)."""
    port = parse_docker_url(engine.docker_url).port if engine.docker_url else None
    return json.dumps({
        "id": engine.id, "address": engine.address,
        "docker_port": port or DOCKER_TLS_PORT, "docker_url": engine.docker_url or None,
        "cpus": engine.cpus, "memory_mb": engine.memory_mb, "labels": engine.labels,
        "tls": engine.tls, "published_by": "paasops-serve",
        "registered_at": (registered_at or datetime.now(UTC)).isoformat(timespec="seconds")})


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def engine_endpoint(engine: Engine) -> EngineEndpoint:
    """How the service reaches an engine: its address, the port of its URL, and TLS unless both the
    record (`tls: false`) and its URL (not https) say plain TCP. `local` is the unix socket."""
    if engine.address == LOCAL_ENGINE:
        return EngineEndpoint(LOCAL_ENGINE, 0, False)
    url = parse_docker_url(engine.docker_url, engine.address)
    return EngineEndpoint(engine.address, url.port, engine.tls or url.tls)


def plain_tcp_refusal(engine: Engine, *, allow_all: bool = False) -> str | None:
    """Why the service may not reach `engine` over plain TCP, or None when it may (or uses TLS).

    Plain TCP is unencrypted and unauthenticated (whoever reaches the port owns the engine), so it is
    used only when an admin allowed it: for this engine (`meta.insecure_tcp`, set by POST /api/engines)
    or for all (the service setting `allow_insecure_tcp`).
    """
    endpoint = engine_endpoint(engine)
    if endpoint.tls or endpoint.address == LOCAL_ENGINE or allow_all or engine.meta.get(INSECURE_TCP):
        return None
    return (f"engine {engine.id} has TLS off: plain TCP to {endpoint.url} is unencrypted and "
            f"unauthenticated; an admin must allow it (insecure_tcp: true, or the service setting "
            f"allow_insecure_tcp)")


def manual_engine(address: str, *, engine_id: str | None = None, port: int = DOCKER_TLS_PORT, tls: bool = True,
                  insecure_tcp: bool = False, labels: dict[str, str] | None = None, cpus: float = 0.0,
                  memory_mb: int = 0, role: str = "", user: str | None = None) -> Engine:
    """The record of an engine added by hand (POST /api/engines) by a caller of `role`.

    TLS off needs `insecure_tcp: true`, and only the admin role may ask for it.
    """
    local = address == LOCAL_ENGINE
    if not tls and not local:
        if not insecure_tcp:
            raise UserInputError("tls: false means plain TCP, unencrypted and unauthenticated: "
                                 "add insecure_tcp: true to allow it (admin role only)", where=f"engine {address}")
        if role != ADMIN_ROLE:
            raise ForbiddenError(f"role {role!r} may not add an engine over plain TCP (insecure_tcp): "
                                 f"only the {ADMIN_ROLE} role may", where=f"engine {address}")
    elif insecure_tcp and not local:
        raise UserInputError("insecure_tcp: true goes with tls: false only", where=f"engine {address}")
    meta = {INSECURE_TCP: True, "insecure_tcp_allowed_by": user} if insecure_tcp and not local else {}
    return Engine(id=engine_id or address, address=address, docker_url=docker_url(address, port, tls=tls and not local),
                  labels=dict(labels or {}), cpus=cpus, memory_mb=memory_mb, tls=tls and not local,
                  source="manual", meta=meta)
