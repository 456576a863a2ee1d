"""Start (or reuse) a local etcd for the lab and the embedded default: TLS, client certs from the etcd CA."""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .. import pki
from ..errors import ConnectionFailed, PaasopsError

DATA_DIR = "etcd-tls-data"  # not the plain-HTTP lab's "etcd-data": that member advertised its peer URL elsewhere


def client_context(pki_dir: Path) -> ssl.SSLContext:
    """TLS to etcd as the service: etcd's cert checked against the etcd CA, our client cert shown."""
    files = pki.etcd_client_files(pki_dir)
    context = ssl.create_default_context(cafile=str(files.ca))
    context.load_cert_chain(str(files.cert), str(files.key))
    return context


def etcd_healthy(endpoint: str, timeout: float = 1.0, context: ssl.SSLContext | None = None) -> bool:
    """True when the etcd at `endpoint` answers its /health with true (over TLS with `context`)."""
    try:
        with urllib.request.urlopen(endpoint.rstrip("/") + "/health", timeout=timeout,
                                    context=context) as reply:
            return json.loads(reply.read() or b"{}").get("health") in ("true", True)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def etcd_command(name: str, data_dir: Path, listen_ip: str, client_port: int, peer_port: int,
                 pki_dir: Path) -> list[str]:
    """etcd's command line: clients over TLS with a cert of the etcd CA (`--client-cert-auth`), the
    member's peer port on loopback only (a single member has no peers to hear from)."""
    cert, key = pki.etcd_server_files(pki_dir, [listen_ip])
    ca = pki.EtcdFiles.in_dir(pki_dir).ca
    endpoint, peer = f"https://{listen_ip}:{client_port}", f"http://127.0.0.1:{peer_port}"
    binary = shutil.which("etcd") or "/usr/bin/etcd"
    if not os.path.exists(binary):
        raise PaasopsError("etcd is not installed (apt-get install etcd-server)", where="etcd")
    return [binary, "--name", name, "--data-dir", str(data_dir),
            "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
            "--cert-file", str(cert), "--key-file", str(key), "--trusted-ca-file", str(ca),
            "--client-cert-auth",
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{name}={peer}"]


def _pid_alive(pid: int) -> bool:
    try:  # reap it first if it is our own exited child
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def ensure_etcd(state_dir: Path, listen_ip: str, client_port: int = 2379,
                peer_port: int = 2380, timeout: float = 20.0, *, pki_dir: Path) -> str:
    """Make sure an etcd of our etcd CA answers over TLS on listen_ip:client_port; start one if not.

    Returns its https endpoint. One that already answers to our client cert is reused; any other etcd
    this state dir started (plain HTTP from an older run, or another CA's) is stopped and replaced.
    """
    endpoint = f"https://{listen_ip}:{client_port}"
    context = client_context(pki_dir)
    if etcd_healthy(endpoint, context=context):
        return endpoint
    command = etcd_command("paasops-lab", state_dir / DATA_DIR, listen_ip, client_port, peer_port, pki_dir)
    stop_etcd(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    log = open(state_dir / "etcd.log", "ab")
    proc = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    (state_dir / "etcd.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (state_dir / "etcd.log").read_text(errors="replace").strip().splitlines()[-2:]
            raise ConnectionFailed(f"etcd exited at start: {' | '.join(tail)}", where="etcd")
        if etcd_healthy(endpoint, context=context):
            return endpoint
        time.sleep(0.2)
    raise ConnectionFailed(f"etcd did not become healthy on {endpoint} in {timeout:.0f}s",
                           where="etcd")


def stop_etcd(state_dir: Path) -> bool:
    """Stop the etcd this state dir started; True if one was running."""
    pid_file = state_dir / "etcd.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().strip() or 0)
    pid_file.unlink()
    if not pid or not _pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if not _pid_alive(pid):
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    return True
