"""Benchmark: heap placement versus the naive re-score-and-sort reference, at 1,000 and 10,000 hosts."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from paasops.placement import HostSnapshot, Request, place  # noqa: E402
from paasops.placement.reference import naive_place  # noqa: E402

TARGET_RATE = 200_000  # placements/s at 1,000 hosts
TARGET_RATIO = 100
REQUEST = Request("bench", cpus=0.25, memory_mb=256, constraints=("zone!=c",))
# (hosts, replicas in the heap batch, replicas for the naive reference)
SIZES = ((1_000, 10_000, 300), (10_000, 100_000, 30))
REPEATS = 3


def simulated_cluster(n: int, seed: int = 42) -> list[HostSnapshot]:
    """A seeded cluster of mixed host sizes, partly reserved, with a few hosts down."""
    rng = random.Random(seed)
    hosts = []
    for i in range(n):
        cpus = rng.choice((4, 8, 16, 32, 64))
        mem = cpus * rng.choice((2048, 4096, 8192))
        hosts.append(
            HostSnapshot(
                id=f"host{i:05d}",
                address=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                healthy=rng.random() > 0.02,
                status="healthy",
                labels={"zone": rng.choice("abc")},
                total_cpu=float(cpus),
                total_mem_mb=mem,
                reserved_cpu=round(rng.uniform(0, 0.5) * cpus, 2),
                reserved_mem_mb=int(rng.uniform(0, 0.5) * mem),
                used_ports=frozenset(rng.sample(range(30000, 30100), 3)),
            )
        )
    return hosts


def best_time(fn, repeats: int = REPEATS) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> int:
    ok = True
    print(
        f"{'hosts':>7} {'heap batch':>10} {'heap /s':>12} {'naive batch':>11} {'naive /s':>10} {'ratio':>8}"
        f"  same plan  plan of 8 (heap / naive)"
    )
    for n_hosts, heap_count, naive_count in SIZES:
        hosts = simulated_cluster(n_hosts)
        heap_t, heap_plan = best_time(lambda h=hosts, n=heap_count: place(h, REQUEST, n))
        naive_t, naive_plan = best_time(lambda h=hosts, n=naive_count: naive_place(h, REQUEST, n))
        same = place(hosts, REQUEST, naive_count) == naive_plan
        small_heap, _ = best_time(lambda h=hosts: place(h, REQUEST, 8))
        small_naive, _ = best_time(lambda h=hosts: naive_place(h, REQUEST, 8), 1)
        assert len(heap_plan.assignments) == heap_count, "the simulated cluster is too small for the batch"
        heap_rate, naive_rate = heap_count / heap_t, naive_count / naive_t
        ratio = heap_rate / naive_rate
        print(
            f"{n_hosts:>7,} {heap_count:>10,} {heap_rate:>12,.0f} {naive_count:>11,} {naive_rate:>10,.0f}"
            f" {ratio:>7,.0f}x  {'yes' if same else 'NO':>9}  {small_heap * 1e3:.1f} ms / {small_naive * 1e3:.0f} ms"
        )
        ok &= same and ratio >= TARGET_RATIO and (n_hosts != 1_000 or heap_rate >= TARGET_RATE)
    print(f"targets: >= {TARGET_RATE:,} placements/s at 1,000 hosts, >= {TARGET_RATIO}x naive: "
          f"{'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
