"""Benchmark: /healthz latency of a real `paasops serve --local-engine` with N `logs --follow` open on a quiet
container versus none, and the time SIGTERM takes to stop it with them open.

Starts a throwaway service (loopback, temporary SQLite, a free port) with the per-account and total follow caps
raised to N, deploys one `sleep` replica (a follow that never gets output), probes /healthz (a sync route: it
needs a free thread of Starlette's pool of 40) with none open, then with N open from one account, then sends
SIGTERM. Uses this machine's Docker: on a shared machine run it under the lab's lock.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from paasops.store.rethinkdb_server import free_ports

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-" + os.urandom(6).hex()


def probe(url: str, n: int, timeout: float = 5.0) -> list[float]:
    """Milliseconds per /healthz; one that gets no answer in `timeout` counts as the timeout and ends the probe."""
    out = []
    with httpx.Client(timeout=timeout) as http:
        for _ in range(n):
            began = time.perf_counter()
            try:
                http.get(f"{url}/healthz").raise_for_status()
            except httpx.TimeoutException:
                return [*out, timeout * 1000]
            out.append((time.perf_counter() - began) * 1000)
    return out


def follow(port: int, token: str, container: str) -> tuple[socket.socket, bool]:
    """A follow left open, and whether it was answered within 5 s (one waiting for a thread is not)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(f"GET /api/containers/{container}/logs?follow=true&tail=0 HTTP/1.1\r\nHost: x\r\n"
                 f"X-Access-Token: {token}\r\n\r\n".encode())
    try:
        head = sock.recv(4096)
    except TimeoutError:
        return sock, False
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"a follow was refused: {head[:200]!r}")
    return sock, True


def run(follows: int, probes: int, source: Path) -> dict:
    port, app = free_ports(1)[0], f"bench-quiet-{uuid.uuid4().hex[:6]}"
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="paasops-bench-streams-") as tmp:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")},
               "PAASOPS_ADMIN_PASSWORD": PASSWORD, "PAASOPS_FOLLOW_PER_ACCOUNT": str(follows),
               "PAASOPS_FOLLOW_TOTAL": str(follows), "PYTHONPATH": str(source)}
        proc = subprocess.Popen([sys.executable, "-m", "paasops", "serve", "--local-engine", "--port", str(port),
                                 "--state", f"sqlite:///{tmp}/state.db", "--pki-dir", f"{tmp}/pki"], env=env,
                                cwd=source, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        socks: list[socket.socket] = []
        token = ""
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("serve did not come up")
                try:
                    answer = httpx.post(f"{url}/api/login", json={"username": "admin", "password": PASSWORD})
                    token = answer.json()["token"]
                    headers = {"X-Access-Token": token}
                    if [e["status"] for e in httpx.get(f"{url}/api/engines", headers=headers).json()] == ["up"]:
                        break
                except (httpx.TransportError, KeyError, ValueError):
                    pass
                time.sleep(0.2)
            spec = {"name": app, "image": "paasops/hello:latest", "command": ["sleep", "600"], "memory": "16m",
                    "cpus": 0.01}
            httpx.post(f"{url}/api/containers", headers=headers, json={"spec": spec, "count": 1},
                       timeout=120).raise_for_status()
            container = httpx.get(f"{url}/api/containers?app={app}", headers=headers).json()[0]["id"]
            none = probe(url, probes)
            opened = [follow(port, token, container) for _ in range(follows)]
            socks = [sock for sock, _ in opened]
            time.sleep(0.5)
            held = probe(url, probes)
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            return {"none": none, "held": held, "sigterm": time.monotonic() - began,
                    "stopped": proc.poll() is not None, "answered": sum(ok for _, ok in opened)}
        finally:
            for sock in socks:
                sock.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            subprocess.run(["sh", "-c", f"docker ps -aq --filter label=paasops.app={app} | xargs -r docker rm -f"],
                           capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--follows", type=int, default=60)
    parser.add_argument("--probes", type=int, default=50)
    parser.add_argument("--source", type=Path, default=ROOT, help="the checkout whose serve runs (e.g. one "
                        "before bounded follows, for the old figure)")
    args = parser.parse_args()
    result = run(args.follows, args.probes, args.source)
    none, held = result["none"], result["held"]
    print(f"/healthz ms ({args.probes} probes)   median    p95     max")
    print(f"({result['answered']} of the {args.follows} follows answered within 5 s)")
    for label, values in (("no follow open", none), (f"{args.follows} follows open", held)):
        p95 = statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]
        cut = len(values) < args.probes  # the last one is the timeout
        print(f"  {label:<20} {statistics.median(values):8.2f} {p95:7.2f} {max(values):7.2f}  "
              f"({len(values) - cut} answered{', then a 5 s timeout' if cut else ''})")
    print(f"median ratio open/none: {statistics.median(held) / statistics.median(none):.2f}x")
    stopped = f"{result['sigterm']:.2f} s" if result["stopped"] else "still running after 30 s (killed)"
    print(f"SIGTERM to exit with {args.follows} follows open: {stopped}")


if __name__ == "__main__":
    main()
