"""`paasops verify`: check bootstrapped hosts with testinfra and from the control machine."""

from __future__ import annotations

import base64
import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import testinfra.backend.base
import testinfra.host

from .connectors.base import Connector
from .engines.client import make_client


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


class ConnectorBackend(testinfra.backend.base.BaseBackend):
    """A testinfra backend that runs through our connector (so host keys are checked our way)."""

    NAME = "paasops"

    def __init__(self, connector: Connector, sudo: bool, **kwargs: Any):
        self.connector = connector
        self._become = sudo
        super().__init__(connector.name, **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any):
        cmd = self.get_command(command, *args)
        out = self.connector.run(cmd, sudo=self._become)
        return self.result(out.exit_code, self.encode(cmd), out.stdout, out.stderr)


def _etcd_get(endpoint: str, key: str) -> dict | None:
    body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
    req = urllib.request.Request(endpoint.rstrip("/") + "/v3/kv/range", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=5) as reply:
        kvs = json.loads(reply.read()).get("kvs") or []
    return json.loads(base64.b64decode(kvs[0]["value"])) if kvs else None


def _refused(fn) -> tuple[bool, str]:
    """(True, why) when fn raises, i.e. the engine refused; (False, '') when it answered."""
    try:
        fn()
    except Exception as exc:  # any refusal counts: reset, TLS alert, HTTP 400
        return True, type(exc).__name__
    return False, ""


def verify_host(connector: Connector, *, name: str, address: str, become: bool, pki_dir: Path,
                etcd_endpoints: list[str], docker_port: int = 2376) -> list[Check]:
    """Every check of one host; never raises for a failed check."""
    host = testinfra.host.Host(ConnectorBackend(connector, sudo=become))
    backend = host.backend
    backend.set_host(host)
    checks = [
        Check("docker service running", host.service("docker").is_running),
        Check("registration agent running", host.service("paasops-register").is_running),
        Check("daemon.json has TLS", host.file("/etc/docker/daemon.json").contains('"tlsverify": true')),
        Check("CA key not on host", not host.file("/etc/docker/tls/ca-key.pem").exists),
    ]
    try:
        version = make_client(address, docker_port, pki_dir=pki_dir, timeout=5).version()
        checks.append(Check("API answers over mutual TLS", True, f"Docker {version.get('Version')}"))
    except Exception as exc:  # an unreachable engine is a failed check, not a crash
        checks.append(Check("API answers over mutual TLS", False, str(exc)[:200]))
    refused, why = _refused(lambda: make_client(address, docker_port, pki_dir=pki_dir, timeout=5,
                                                with_client_cert=False).ping())
    checks.append(Check("client without cert refused", refused, why))

    def plain_http():
        urllib.request.urlopen(f"http://{address}:{docker_port}/_ping", timeout=5).read()
    refused, why = _refused(plain_http)
    checks.append(Check("plain TCP client refused", refused, why))
    key = f"/paasops/engines/{name}"
    try:
        value = next((v for v in (_etcd_get(e, key) for e in etcd_endpoints) if v), None)
        checks.append(Check("registered in etcd", value is not None,
                            f"{key} -> {value['address']}:{value['docker_port']}" if value else f"{key} missing"))
    except Exception as exc:  # etcd down is a failed check
        checks.append(Check("registered in etcd", False, str(exc)[:200]))
    return checks
