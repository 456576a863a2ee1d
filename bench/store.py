"""Benchmark: the store operations the service does most, per second, SQLite beside RethinkDB, and
the write-to-follower latency of each backend's event feed."""

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

from paasops.store import App, Engine, Event, Store, open_store
from paasops.store.rethinkdb_server import ThrowawayServer, cannot_run, find_binary
from paasops.store.sqlite import SqliteStore

ENGINES = 20  # a cluster's worth of engines and apps in the store while listing
APPS = 20
EVENTS = 2_000  # history behind "events since"
THREADS = 8
SPEC = {"name": "web", "image": "paasops/hello:latest", "ports": [{"host": 0, "container": 8080}], "cpus": 0.5}


def seed(store: Store) -> None:
    for i in range(ENGINES):
        store.put_engine(Engine(id=f"host{i:02d}", address=f"10.0.0.{i}", docker_url=f"tcp://10.0.0.{i}:2376",
                                cpus=8, memory_mb=16384, labels={"zone": "abc"[i % 3]}, status="up"))
    for i in range(APPS):
        store.put_app(App(f"app{i:02d}", {**SPEC, "name": f"app{i:02d}"}, 4, f"dep{i}", "abc123"))
    t0 = time.time() - EVENTS
    for i in range(EVENTS):
        store.add_event(Event("start", tag="docker", app=f"app{i % APPS:02d}", host=f"host{i % ENGINES:02d}",
                              container="c1", time=t0 + i))


def operations(store: Store) -> dict:
    """Name -> one call, as the service makes it."""
    n = iter(range(10**9))
    return {
        "add event": lambda: store.add_event(Event("run-container", app="web", host="host01", data={"i": next(n)})),
        "put app": lambda: store.put_app(App("web", SPEC, next(n) % 8 + 1, "dep1", "abc123")),
        "put engine (status)": lambda: store.put_engine(Engine(id="host01", address="10.0.0.1", status="up")),
        "get app": lambda: store.get_app("app07"),
        f"list engines ({ENGINES})": store.list_engines,
        f"list apps ({APPS})": store.list_apps,
        "list events since (100)": lambda: store.list_events(since=time.time() - 600, limit=100),
    }


def rate(fn, count: int, seconds: float, threads: int = 1) -> float:
    """Calls per second over at most `count` calls or `seconds` seconds, from `threads` threads."""
    fn()  # warm
    done = [0] * threads
    start = time.perf_counter()
    deadline = start + seconds

    def work(k: int) -> None:
        while done[k] < count // threads and time.perf_counter() < deadline:
            fn()
            done[k] += 1

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done) / (time.perf_counter() - start)


# what a feed follows -> (open the feed on a store, write change n on a store and return its key,
# the key of a change the feed gives)
FEEDS = {
    "events": (lambda store: store.follow_events(type="bench-follow"),
               lambda store, n: store.add_event(Event("bench-follow")).id,
               lambda event: event.id),
    "apps": (lambda store: store.follow_apps(),
             lambda store, n: store.put_app(App(f"follow{n}", SPEC, 1, f"dep{n}")).name,
             lambda change: change.name),
}


def follow_latency(url: str, what: str, changes: int, gap: float) -> list[float]:
    """Seconds from the write being called on one connection to the change coming out of a feed on
    another (a RethinkDB feed can see a write before the writer has its acknowledgement)."""
    open_feed, write, key = FEEDS[what]
    writer, follower = open_store(url), open_store(url)
    seen: dict[str, float] = {}
    feed = open_feed(follower)
    feed.wait = 0.1

    def read():
        for change in feed:
            seen[key(change)] = time.perf_counter()
            if len(seen) == changes:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    written = {}
    for n in range(changes):
        start = time.perf_counter()
        written[write(writer, n)] = start
        time.sleep(gap)
    reader.join(timeout=10)
    feed.close()
    writer.close()
    follower.close()
    return [seen[k] - t for k, t in written.items() if k in seen]


def measure(url: str, count: int, seconds: float, changes: int, gap: float) -> tuple[dict, dict]:
    with open_store(url) as store:
        seed(store)
        ops = operations(store)
        rates = {name: rate(fn, count, seconds) for name, fn in ops.items()}
        # the service writes from many threads at once: API requests, Docker event streams, heartbeats
        rates[f"add event, {THREADS} threads"] = rate(ops["add event"], count, seconds, THREADS)
    return rates, {what: follow_latency(url, what, changes, gap) for what in FEEDS}


def rethinkdb_server(url: str | None) -> tuple[str | None, ThrowawayServer | None]:
    """The RethinkDB server URL (without a database) to bench on: `url`, or a throwaway server
    started here (stop it after); (None, None), said on stdout, when none can run."""
    if url:
        return url.rstrip("/"), None
    binary = find_binary()
    why = "no RethinkDB server binary" if binary is None else cannot_run(binary)
    if why:
        print(f"RethinkDB: cannot run: {why}")
        return None, None
    server = ThrowawayServer(binary).start()
    return server.url, server


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=3_000, help="calls per operation at most")
    ap.add_argument("--seconds", type=float, default=2.0, help="seconds per operation at most")
    ap.add_argument("--events", type=int, default=50, help="changes written per feed for its latency")
    ap.add_argument("--rethinkdb-url", help="a server of your own instead of a throwaway one")
    args = ap.parse_args()
    gap = 0.02

    with tempfile.TemporaryDirectory() as tmp:
        results = {"SQLite": measure(f"sqlite://{tmp}/state.db", args.count, args.seconds, args.events, gap)}
    base, server = rethinkdb_server(args.rethinkdb_url)
    if base is None:
        return 1
    db = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        results["RethinkDB"] = measure(f"{base}/{db}", args.count, args.seconds, args.events, gap)
    finally:
        if server is not None:
            server.stop()

    (sq, sq_lat), (rd, rd_lat) = results["SQLite"], results["RethinkDB"]
    print(f"store operations per second (at most {args.count} calls or {args.seconds:g} s each; "
          f"{ENGINES} engines, {APPS} apps, {EVENTS} events stored)")
    print(f"{'operation':<26} {'SQLite /s':>10} {'RethinkDB /s':>13} {'SQLite/RethinkDB':>17}")
    for name in sq:
        print(f"{name:<26} {sq[name]:>10,.0f} {rd[name]:>13,.0f} {sq[name] / rd[name]:>16.1f}x")
    print(f"\nfeed latency, write called -> change seen by a feed on another connection ({args.events} each):")
    print(f"{'feed':<34} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} {'seen':>6}")
    polls = f"SQLite (polls {SqliteStore.poll_interval:g} s)"
    ok = True
    for what in FEEDS:
        for name, lat in ((polls, sq_lat[what]), ("RethinkDB (changefeed)", rd_lat[what])):
            ms = sorted(x * 1000 for x in lat)
            ok = ok and len(ms) == args.events
            if not ms:
                print(f"{what + ', ' + name:<34} {'-':>10} {'-':>8} {'-':>8} {0:>6}")
                continue
            p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
            print(f"{what + ', ' + name:<34} {statistics.median(ms):>10.1f} {p95:>8.1f} {ms[-1]:>8.1f} {len(ms):>6}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
