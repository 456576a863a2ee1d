"""Benchmark: 100 concurrent logins against a throwaway `paasops serve`, peak RSS with and without the argon2 bound.

Each run starts its own service (loopback, a temporary SQLite state, a free port), waits until it is
idle, reads its RSS, fires N logins at once (the right password: the limiter does not interfere),
probing /healthz (a sync route) meanwhile, then reads the kernel's high-water mark of the service's
RSS (VmHWM) and stops it. The runs are
`--bounds` values of PAASOPS_LOGIN_HASH_CONCURRENCY (0: unbounded, the old behaviour). Every run
stops by itself (`--timeout` per run). Linux only (/proc).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-" + os.urandom(6).hex()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_kib(pid: int, field: str) -> int:
    """VmRSS (now) or VmHWM (the peak so far) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def run(bound: int, logins: int, timeout: float) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="paasops-bench-login-") as tmp:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")},
               "PAASOPS_ADMIN_PASSWORD": PASSWORD, "PAASOPS_LOGIN_HASH_CONCURRENCY": str(bound),
               "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", "paasops", "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--state", f"sqlite:///{tmp}/state.db"], env=env, cwd=ROOT,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("serve did not come up")
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            time.sleep(1.0)
            idle = memory_kib(proc.pid, "VmRSS")

            def login(_: int) -> int:
                left = max(1.0, deadline - time.monotonic())
                return httpx.post(f"{url}/api/login", json={"username": "admin", "password": PASSWORD},
                                  timeout=left).status_code

            probes: list[float] = []
            flooding = threading.Event()
            flooding.set()

            def probe() -> None:  # a sync route's latency while the flood lasts (worker threads free?)
                while flooding.is_set():
                    t0 = time.monotonic()
                    httpx.get(f"{url}/healthz", timeout=60)
                    probes.append(time.monotonic() - t0)
                    time.sleep(0.05)

            started = time.monotonic()
            prober = threading.Thread(target=probe, daemon=True)
            prober.start()
            with ThreadPoolExecutor(logins) as pool:
                statuses = list(pool.map(login, range(logins)))
            took = time.monotonic() - started
            flooding.clear()
            prober.join(timeout=60)
            peak = memory_kib(proc.pid, "VmHWM")
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {"bound": bound, "idle_mib": idle / 1024, "peak_mib": peak / 1024, "seconds": took,
            "healthz_ms": 1000 * max(probes, default=0.0),
            "ok": statuses.count(200), "other": {s: statuses.count(s) for s in set(statuses) if s != 200}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=100)
    parser.add_argument("--bounds", type=int, nargs="+", default=[2, 0], help="hash concurrency per run (0: none)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds a run may take")
    args = parser.parse_args()
    results = [run(bound, args.logins, args.timeout) for bound in args.bounds]
    print(f"{args.logins} concurrent logins, argon2id 64 MiB per hash")
    print(f"{'bound':>9} {'idle MiB':>9} {'peak MiB':>9} {'peak/idle':>9} {'seconds':>8} {'healthz max ms':>14}"
          "  answers")
    for r in results:
        bound = r["bound"] or "none"
        print(f"{bound:>9} {r['idle_mib']:9.0f} {r['peak_mib']:9.0f} {r['peak_mib'] / r['idle_mib']:9.2f} "
              f"{r['seconds']:8.1f} {r['healthz_ms']:14.0f}  {r['ok']} x 200"
              + (f", {r['other']}" if r["other"] else ""))
    bounded = [r for r in results if r["bound"]]
    unbounded = [r for r in results if not r["bound"]]
    if bounded and unbounded:
        def growth(r: dict) -> float:
            return r["peak_mib"] - r["idle_mib"]

        print(f"peak growth over idle, unbounded / bounded: {growth(unbounded[0]) / growth(bounded[0]):.1f}x")


if __name__ == "__main__":
    main()
