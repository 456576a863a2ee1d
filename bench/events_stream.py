"""Benchmark: event latency from a write (by another store connection, as another process would
write) to a client of the API's event stream (GET /api/events/stream) seeing it, SQLite beside RethinkDB."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from store import rethinkdb_server  # noqa: E402  (bench/store.py)

from paasops.api.app import create_app  # noqa: E402
from paasops.auth.first_admin import ensure_first_admin, seed_roles  # noqa: E402
from paasops.client import ApiClient  # noqa: E402
from paasops.service.service import Service  # noqa: E402
from paasops.service.settings import ServiceSettings  # noqa: E402
from paasops.store import Event, open_store  # noqa: E402
from paasops.store.rethinkdb_server import free_ports  # noqa: E402
from paasops.store.sqlite import SqliteStore  # noqa: E402

PASSWORD = "bench-events-stream-pw"


def stream_latency(state: str, pki: Path, events: int, gap: float, clients: int) -> list[float]:
    """Seconds from add_event being called to each of `clients` stream readers having the event."""
    service = Service(ServiceSettings(state=state, pki_dir=pki))
    seed_roles(service.store)
    ensure_first_admin(service.store, PASSWORD)
    port = free_ports(1)[0]
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    token = httpx.post(f"{url}/api/login", json={"username": "admin", "password": PASSWORD}).json()["token"]
    seen: list[dict[str, float]] = [{} for _ in range(clients)]

    def read(k: int) -> None:
        with ApiClient(url, token=token) as api:
            for event in api.event_stream(type="bench-stream"):
                seen[k][event.id] = time.perf_counter()
                if len(seen[k]) == events:
                    return

    readers = [threading.Thread(target=read, args=(k,), daemon=True) for k in range(clients)]
    for t in readers:
        t.start()
    time.sleep(1.0)  # every reader subscribed
    writer = open_store(state)
    written = {}
    for _ in range(events):
        start = time.perf_counter()
        written[writer.add_event(Event("bench-stream")).id] = start
        time.sleep(gap)
    for t in readers:
        t.join(timeout=10)
    writer.close()
    server.should_exit = True
    service.stop()
    return [s[i] - t for s in seen for i, t in written.items() if i in s]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=100, help="events written")
    ap.add_argument("--clients", type=int, default=4, help="stream readers (one shared feed serves them all)")
    ap.add_argument("--rethinkdb-url", help="a server of your own instead of a throwaway one")
    args = ap.parse_args()
    gap = 0.02
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        polls = f"SQLite (polls {SqliteStore.poll_interval:g} s)"
        results[polls] = stream_latency(f"sqlite:///{tmp}/state.db", Path(tmp), args.events, gap, args.clients)
        base, server = rethinkdb_server(args.rethinkdb_url)
        if base is None:
            return 1
        try:
            results["RethinkDB (changefeed)"] = stream_latency(f"{base}/bench_{uuid.uuid4().hex[:8]}", Path(tmp),
                                                               args.events, gap, args.clients)
        finally:
            if server is not None:
                server.stop()
    expected = args.events * args.clients
    print(f"event latency, add_event called -> seen by a client of GET /api/events/stream "
          f"({args.events} events, {args.clients} clients, one shared feed):")
    print(f"{'backend':<26} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} {'seen':>6}")
    medians = {}
    for name, lat in results.items():
        ms = sorted(x * 1000 for x in lat)
        if not ms:
            print(f"{name:<26} {'-':>10} {'-':>8} {'-':>8} {0:>6}")
            continue
        medians[name] = statistics.median(ms)
        p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
        print(f"{name:<26} {medians[name]:>10.1f} {p95:>8.1f} {ms[-1]:>8.1f} {len(ms):>6}/{expected}")
    if len(medians) == 2:
        sq, rd = medians.values()
        print(f"median ratio SQLite/RethinkDB: {sq / rd:.1f}x")
    return 0 if all(len(lat) == expected for lat in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
