"""Benchmark: GET /api/containers over 3 engines x 100 containers, versus listing the engines per request.

The API side is a real `Service` behind uvicorn (in its own process) answering from the container
cache the service keeps current from the engines' event streams. With `--engine ID=ADDRESS`
(three times, e.g. bootstrapped lab hosts; `local` for this machine's engine) the cache holds
those engines' real containers, topped up to `--containers` each; without, the cache of three
simulated engines is filled with ContainerView records, and the output says so.

The baseline is the thesis way: every request lists the containers of every engine straight
from Docker with the SDK (`client.containers.list(all=True)`: one list call, then one inspect
per container). A second reference lists with `sparse=True` (one call per engine, no inspects).
Without `--engine`, the baseline runs against this machine's dockerd standing in for each of
the 3 engines, with 100 stopped containers created for it (and removed at the end).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

TARGET_P50_MS = 20.0
BENCH_PASSWORD = "bench-" + os.urandom(6).hex()  # the first admin of the bench's own service
BENCH_LABEL = "paasops.bench"
IMAGE = "paasops/hello:latest"


# -- the API side (runs in its own process) --------------------------------------------------------
def simulated_views(engine_id: str, n: int, now: float) -> list:
    """n realistic ContainerView records of a paasops app on one engine."""
    from paasops.service.containers import ContainerView

    views = []
    for i in range(n):
        labels = {"paasops.app": f"app{i % 10}", "paasops.deployment": "4763ae2c716f", "paasops.spec-hash":
                  "e80696d8e278", "paasops.replica": str(i + 1), "paasops.cpus": "0.1", "paasops.memory-mb": "64",
                  "paasops.host-ports": "", "team": "platform"}
        views.append(ContainerView(id=uuid.uuid4().hex + uuid.uuid4().hex, name=f"app{i % 10}-{i + 1}",
                                   engine_id=engine_id, image=IMAGE, state="running", status="Up 5 minutes",
                                   created=now - i, labels=labels,
                                   ports=[{"container": 8080, "protocol": "tcp", "host_ip": "0.0.0.0",
                                           "host_port": 32768 + i}]))
    return views


def build_service(engines: list[tuple[str, str]], per_engine: int, pki_dir: str | None, state_dir: str):
    """A Service whose cluster holds the engines (real ones synced, or simulated ones filled in)."""
    from paasops.service.engine import EngineHandle
    from paasops.service.service import Service
    from paasops.service.settings import ServiceSettings
    from paasops.store.records import Engine

    settings = ServiceSettings(state=f"sqlite:///{state_dir}/state.db", pki_dir=pki_dir,
                               admin_password=BENCH_PASSWORD)
    service = Service(settings)
    service._first_start()  # the account the bench logs in with: every request pays the token check
    if engines:  # real engines: the service lists them once and then follows their event streams
        for engine_id, address in engines:
            host, _, port = address.partition(":")
            url = "unix:///var/run/docker.sock" if host == "local" else f"https://{host}:{port or 2376}"
            service.cluster.upsert_engine(Engine(id=engine_id, address=host, docker_url=url, tls=host != "local",
                                                 source="manual"))
        service.container_events.sync_targets()
        return service
    now = time.time()
    for i in range(3):
        record = Engine(id=f"sim{i + 1}", address=f"10.99.0.{i + 1}", docker_url=f"https://10.99.0.{i + 1}:2376",
                        cpus=8, memory_mb=16384, source="manual", status="up")
        handle = EngineHandle(record, None)
        handle.status = "up"
        handle.containers = {v.id: v for v in simulated_views(record.id, per_engine, now)}
        service.cluster.engines[record.id] = handle
    return service


def serve(port: int, engines: list[tuple[str, str]], per_engine: int, pki_dir: str | None, ready) -> None:
    """Process target: build the service, serve its API with uvicorn until terminated."""
    import logging

    import uvicorn

    from paasops.api.app import create_app

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as state_dir:
        service = build_service(engines, per_engine, pki_dir, state_dir)
        config = uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="error",
                                access_log=False)
        server = uvicorn.Server(config)
        threading.Thread(target=lambda: (wait_listening(port), ready.set()), daemon=True).start()
        server.run()


def wait_listening(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


# -- measuring -------------------------------------------------------------------------------------
def timed(fn: Callable[[], object], n: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def rate(fn: Callable[[], object], clients: int, seconds: float) -> float:
    """Requests/s with `clients` threads calling fn for `seconds`."""
    done = [0] * clients
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        while time.monotonic() < stop:
            fn()
            done[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - start)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000


def row(name: str, samples: list[float], rps1: float, rps8: float, size: int) -> str:
    return (f"{name:<42} {size:>6} {pct(samples, 0.5):>8.1f} {pct(samples, 0.95):>8.1f} "
            f"{statistics.mean(samples) * 1000:>8.1f} {rps1:>9.1f} {rps8:>9.1f}")


# -- engines for the baseline -------------------------------------------------------------------------
def baseline_clients(engines: list[tuple[str, str]], pki_dir: str | None):
    """One docker SDK client per engine (made once: the baseline is not charged for connecting)."""
    import docker

    from paasops.engines.client import make_client

    if not engines:
        client = docker.from_env()
        return [client] * 3, {"label": f"{BENCH_LABEL}=api"}
    clients = []
    for _, address in engines:
        host, _, port = address.partition(":")
        clients.append(make_client(host, int(port or 2376), pki_dir=Path(pki_dir) if pki_dir else None))
    return clients, {}


def top_up(clients, per_engine: int, label_filter: dict) -> list[tuple[object, str]]:
    """Create stopped containers until each engine lists `per_engine` (for the baseline); returns them."""
    from paasops.lab.hello_image import ensure_hello_image

    created = []
    for client in dict.fromkeys(clients):  # the local engine standing in for 3 is topped up once
        ensure_hello_image(client)
        have = len(client.api.containers(all=True, filters=label_filter))
        for _ in range(max(0, per_engine - have)):
            c = client.api.create_container(IMAGE, ["sleep", "1"], labels={BENCH_LABEL: "api"})
            created.append((client, c["Id"]))
    return created


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", action="append", default=[], metavar="ID=ADDRESS[:PORT]",
                        help="A real engine (repeat 3 times for the target setup; 'local' = this machine).")
    parser.add_argument("--pki-dir", default=os.environ.get("PAASOPS_PKI_DIR"))
    parser.add_argument("--containers", type=int, default=100, help="Containers per engine.")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--baseline-requests", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=3.0, help="Length of each requests/s run.")
    args = parser.parse_args()
    engines = [tuple(e.split("=", 1)) for e in args.engine]

    clients, label_filter = baseline_clients(engines, args.pki_dir)
    created = top_up(clients, args.containers, label_filter)
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    port_no = port.getsockname()[1]
    port.close()
    ready = multiprocessing.Event()
    proc = multiprocessing.Process(target=serve, args=(port_no, engines, args.containers, args.pki_dir, ready),
                                   daemon=True)
    proc.start()
    try:
        if not ready.wait(120):
            raise RuntimeError("the API did not come up")
        url = f"http://127.0.0.1:{port_no}/api/containers"
        login = httpx.post(f"http://127.0.0.1:{port_no}/api/login",
                           json={"username": "admin", "password": BENCH_PASSWORD}, timeout=30)
        login.raise_for_status()
        auth = {"Authorization": f"Bearer {login.json()['token']}"}
        http = httpx.Client(timeout=30, headers=auth)
        local = threading.local()

        def api_get() -> int:
            if not hasattr(local, "http"):
                local.http = httpx.Client(timeout=30, headers=auth)
            return len(local.http.get(url).json())

        size = len(http.get(url).json())
        if engines:
            print(f"setup: {len(engines)} real engines ({', '.join(e for e, _ in engines)}), {size} containers "
                  f"in the service's cache")
        else:
            print(f"setup: no lab engines given: the service's cache holds 3 SIMULATED engines x "
                  f"{args.containers} ContainerView records ({size} containers); the baseline lists this "
                  f"machine's dockerd 3 times per request ({args.containers} containers created for it)")
        print(f"{'GET /api/containers':<42} {'items':>6} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} "
              f"{'req/s x1':>9} {'req/s x8':>9}")
        api_t = timed(api_get, args.requests, warmup=20)
        api_r1, api_r8 = rate(api_get, 1, args.seconds), rate(api_get, 8, args.seconds)
        print(row("paasops API (service cache)", api_t, api_r1, api_r8, size))

        def thesis() -> int:
            return sum(len(c.containers.list(all=True, filters=label_filter)) for c in clients)

        def sparse() -> int:
            return sum(len(c.containers.list(all=True, sparse=True, filters=label_filter)) for c in clients)

        n = args.baseline_requests
        base_t = timed(thesis, n, warmup=1)
        base_r1 = n / sum(base_t)
        base_r8 = rate(thesis, 8, args.seconds)
        print(row("baseline: SDK list(all=True) per engine", base_t, base_r1, base_r8, thesis()))
        sparse_t = timed(sparse, max(n, 100), warmup=3)
        print(row("reference: SDK list(sparse=True) per engine", sparse_t, rate(sparse, 1, args.seconds),
                  rate(sparse, 8, args.seconds), sparse()))
        p50 = pct(api_t, 0.5)
        print(f"ratio (baseline / API): p50 {pct(base_t, 0.5) / p50:.0f}x, requests/s {api_r1 / base_r1:.0f}x "
              f"(1 client), {api_r8 / base_r8:.0f}x (8 clients); vs sparse lists: p50 "
              f"{pct(sparse_t, 0.5) / p50:.1f}x")
        ok = p50 <= TARGET_P50_MS
        print(f"target: p50 <= {TARGET_P50_MS:.0f} ms: {'met' if ok else 'MISSED'} ({p50:.1f} ms)")
        return 0 if ok else 1
    finally:
        proc.terminate()
        proc.join(10)
        for client, cid in created:
            client.api.remove_container(cid, force=True)


if __name__ == "__main__":
    sys.exit(main())
