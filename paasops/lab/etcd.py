"""Start (or reuse) a local etcd for the lab and the embedded default."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import ConnectionFailed, PaasopsError


def etcd_healthy(endpoint: str, timeout: float = 1.0) -> bool:
    """True when the etcd at `endpoint` (http://ip:port) answers its /health with true."""
    try:
        with urllib.request.urlopen(endpoint.rstrip("/") + "/health", timeout=timeout) as reply:
            return json.loads(reply.read() or b"{}").get("health") in ("true", True)
    except (urllib.error.URLError, OSError, ValueError):
        return False


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
                peer_port: int = 2380, timeout: float = 20.0) -> str:
    """Make sure an etcd answers on listen_ip:client_port; start one under state_dir if not.

    Returns its endpoint URL. An etcd that already answers there is reused.
    """
    endpoint = f"http://{listen_ip}:{client_port}"
    if etcd_healthy(endpoint):
        return endpoint
    binary = shutil.which("etcd") or "/usr/bin/etcd"
    if not os.path.exists(binary):
        raise PaasopsError("etcd is not installed (apt-get install etcd-server)", where="etcd")
    stop_etcd(state_dir)  # a stale lab etcd listening on the wrong addresses
    state_dir.mkdir(parents=True, exist_ok=True)
    log = open(state_dir / "etcd.log", "ab")
    proc = subprocess.Popen(
        [binary, "--name", "paasops-lab", "--data-dir", str(state_dir / "etcd-data"),
         "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
         "--listen-peer-urls", f"http://{listen_ip}:{peer_port}",
         "--initial-advertise-peer-urls", f"http://{listen_ip}:{peer_port}",
         "--initial-cluster", f"paasops-lab=http://{listen_ip}:{peer_port}"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    (state_dir / "etcd.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (state_dir / "etcd.log").read_text(errors="replace").strip().splitlines()[-2:]
            raise ConnectionFailed(f"etcd exited at start: {' | '.join(tail)}", where="etcd")
        if etcd_healthy(endpoint):
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
