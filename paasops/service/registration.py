"""Engine registrations in etcd as plain data: parse one, write one, and read etcd endpoints (no I/O)."""

from __future__ import annotations

import json
import urllib.parse
from datetime import datetime, timezone
from typing import Any

from ..store.records import Engine
from ..vocabulary import DOCKER_TLS_PORT, docker_url, parse_docker_url

ETCD_CLIENT_PORT = 2379


def parse_etcd_endpoint(endpoint: str) -> tuple[str, int, bool]:
    """(host, port, TLS) of an etcd client URL or `host[:port]`; no scheme means plain http, port 2379."""
    parts = urllib.parse.urlsplit(endpoint if "://" in endpoint else "http://" + endpoint)
    return parts.hostname or "127.0.0.1", parts.port or ETCD_CLIENT_PORT, parts.scheme == "https"


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
        "registered_at": (registered_at or datetime.now(timezone.utc)).isoformat(timespec="seconds")})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
