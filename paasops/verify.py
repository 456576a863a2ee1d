"""`paasops verify`: check bootstrapped hosts over their connector and from the control machine."""

from __future__ import annotations

import base64
import json
import shlex
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .connectors.base import Connector
from .engines.client import make_client
from .pki import EtcdFiles
from .vocabulary import DOCKER_TLS_PORT, ETCD_ENGINES_PREFIX


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


# The host-side checks are three shell tests run through our connector (so host keys are
# checked our way); they need no test framework, so `paasops verify` works from a plain install.
def service_running(connector: Connector, name: str, *, sudo: bool) -> bool:
    """systemd says the unit is active."""
    out = connector.run(f"systemctl is-active {shlex.quote(name)}", sudo=sudo)
    return out.stdout.strip() == "active"


def file_contains(connector: Connector, path: str, text: str, *, sudo: bool) -> bool:
    """The file exists and holds `text` (a fixed string, not a pattern)."""
    return connector.run(f"grep -qsF -- {shlex.quote(text)} {shlex.quote(path)}", sudo=sudo).ok


def path_exists(connector: Connector, path: str, *, sudo: bool) -> bool:
    return connector.run(f"test -e {shlex.quote(path)}", sudo=sudo).ok


def _etcd_get(endpoint: str, key: str, pki_dir: Path) -> dict | None:
    body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
    req = urllib.request.Request(endpoint.rstrip("/") + "/v3/kv/range", data=body, method="POST")
    files = EtcdFiles.in_dir(pki_dir)  # etcd wants a client cert of its CA: the service's
    context = ssl.create_default_context(cafile=str(files.ca))
    context.load_cert_chain(str(files.cert), str(files.key))
    with urllib.request.urlopen(req, timeout=5, context=context) as reply:
        kvs = json.loads(reply.read()).get("kvs") or []
    return json.loads(base64.b64decode(kvs[0]["value"])) if kvs else None


def _refused(fn) -> tuple[bool, str]:
    """(True, why) when fn raises, i.e. the engine refused; (False, '') when it answered."""
    try:
        fn()
    except Exception as exc:  # any refusal counts: reset, TLS alert, HTTP 400
        return True, type(exc).__name__
    return False, ""


def edge_checks(connector: Connector, address: str, *, sudo: bool) -> list[Check]:
    """On an edge (its agent config has an `edge` section): HAProxy active and answering on the HTTP
    port from here (any HTTP status: 503 just means no route yet). No checks on other hosts."""
    out = connector.run("cat /etc/paasops/register.json", sudo=sudo)
    try:
        edge = json.loads(out.stdout).get("edge") if out.ok else None
    except ValueError:
        edge = None
    if not isinstance(edge, dict):
        return []
    port = edge.get("http_port", 80)
    running = Check("edge proxy (haproxy) running", service_running(connector, "haproxy", sudo=sudo))
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/", timeout=5) as reply:
            status = reply.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:  # refused, reset, timed out: the edge does not answer
        return [running, Check(f"edge answers HTTP on port {port}", False, str(exc)[:200])]
    return [running, Check(f"edge answers HTTP on port {port}", True, f"HTTP {status}")]


def verify_host(connector: Connector, *, name: str, address: str, become: bool, pki_dir: Path,
                etcd_endpoints: list[str], docker_port: int = DOCKER_TLS_PORT) -> list[Check]:
    """Every check of one host; never raises for a failed check."""
    checks = [
        Check("docker service running", service_running(connector, "docker", sudo=become)),
        Check("registration agent running", service_running(connector, "paasops-register", sudo=become)),
        Check("daemon.json has TLS", file_contains(connector, "/etc/docker/daemon.json",
                                                   '"tlsverify": true', sudo=become)),
        Check("CA key not on host", not path_exists(connector, "/etc/docker/tls/ca-key.pem", sudo=become)),
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
    key = f"{ETCD_ENGINES_PREFIX}{name}"
    try:
        value = next((v for v in (_etcd_get(e, key, pki_dir) for e in etcd_endpoints) if v), None)
        checks.append(Check("registered in etcd", value is not None,
                            f"{key} -> {value['address']}:{value['docker_port']}" if value else f"{key} missing"))
    except Exception as exc:  # etcd down is a failed check
        checks.append(Check("registered in etcd", False, str(exc)[:200]))
    return checks + edge_checks(connector, address, sudo=become)
