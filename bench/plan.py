"""Benchmark: `plan --lose` at 1,000 hosts and 20,000 replicas versus a full re-placement with the naive reference."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.placement import best_time  # noqa: E402
from paasops.placement import HostSnapshot, Request, place  # noqa: E402
from paasops.placement.evacuate import with_plan  # noqa: E402
from paasops.placement.headroom import headroom  # noqa: E402
from paasops.placement.reference import naive_place  # noqa: E402
from paasops.placement.whatif import Demand, Scenario, as_result, scenario_hosts, what_if  # noqa: E402

HOSTS, APPS, PER_APP = 1_000, 200, 100  # 20,000 replicas
TARGET_MS = 200.0
EXPLAIN = 20  # hosts explained per app, as `paasops plan` asks by default
NAIVE_APPS = 6  # the naive full re-placement is timed on this many apps' replicas and scaled to all of them


def simulated_cluster(seed: int = 7) -> tuple[list[HostSnapshot], dict[str, Demand]]:
    """Empty hosts of mixed sizes, then APPS apps of PER_APP replicas placed on them by the heap placer."""
    rng = random.Random(seed)
    hosts = []
    for i in range(HOSTS):
        cpus = rng.choice((8, 16, 32))
        hosts.append(HostSnapshot(id=f"host{i:04d}", total_cpu=float(cpus), total_mem_mb=cpus * 4096,
                                  labels={"zone": rng.choice("abc")}))
    demands = {}
    for a in range(APPS):
        request = Request(f"app{a:03d}", cpus=rng.choice((0.1, 0.25, 0.5, 1.0)),
                          memory_mb=rng.choice((64, 128, 256, 512, 1024)),
                          constraints=("zone!=c",) if a % 10 == 0 else ())
        demands[request.app] = Demand(request, rng.choice(("thesis", "thesis", "spread", "binpack")))
    for d in demands.values():
        plan = place(hosts, d.request, PER_APP, d.strategy)
        assert plan.complete, "the simulated cluster is too small"
        hosts = with_plan(hosts, d.request, plan)
    return hosts, demands


def main() -> int:
    start = time.perf_counter()
    hosts, demands = simulated_cluster()
    built = time.perf_counter() - start
    replicas = sum(sum(h.replicas.values()) for h in hosts)
    lost = max(hosts, key=lambda h: sum(h.replicas.values())).id  # the busiest host
    scenario = Scenario(lose=(lost,))
    plan_t, plan = best_time(lambda: what_if(hosts, demands, scenario), 7)
    answer_t, answer = best_time(lambda: as_result(what_if(hosts, demands, scenario), scenario, explain=EXPLAIN), 7)
    every_t, every = best_time(lambda: as_result(what_if(hosts, demands, scenario), scenario), 1)
    moved = sum(a.count for a in plan.apps)

    # The same moves by the naive reference, app by app on the same scenario: the same hosts?
    after = scenario_hosts(hosts, scenario)
    same = True
    for a in plan.apps:
        d = demands[a.app]
        ref = naive_place(after, d.request, a.count, d.strategy)
        same &= a.plan is not None and [x.host_id for x in a.plan.assignments] == [x.host_id for x in ref.assignments]
        after = with_plan(after, d.request, ref)

    # A full re-placement from scratch: every replica placed again on the hosts left, empty.
    empty = [HostSnapshot(id=h.id, total_cpu=h.total_cpu, total_mem_mb=h.total_mem_mb, labels=h.labels)
             for h in hosts if h.id != lost]

    def full(placer, apps):
        cluster = empty
        for name in apps:
            d = demands[name]
            p = placer(cluster, d.request, PER_APP, d.strategy)
            cluster = with_plan(cluster, d.request, p)
        return cluster

    heap_full_t, _ = best_time(lambda: full(place, demands), 1)
    sample = list(demands)[:NAIVE_APPS]
    naive_sample_t, _ = best_time(lambda: full(naive_place, sample), 1)
    naive_full_t = naive_sample_t * APPS / NAIVE_APPS

    room_t, room = best_time(lambda: headroom(hosts, demands), 1)

    print(f"cluster: {len(hosts):,} hosts, {replicas:,} replicas of {APPS} apps (built in {built:.1f} s)")
    print(f"plan --lose {lost}: {moved} replicas of {len(plan.apps)} apps, "
          f"{'all placed' if plan.complete else f'{sum(plan.stranded.values())} stranded'}")
    print(f"  what-if (pure):               {plan_t * 1e3:8.1f} ms")
    print(f"  what-if + typed answer:       {answer_t * 1e3:8.1f} ms  "
          f"({sum(len(a.explanation) for a in answer.apps):,} host explanations: {EXPLAIN} per app at most)")
    print(f"  ... every host explained:     {every_t * 1e3:8.1f} ms  "
          f"({sum(len(a.explanation) for a in every.apps):,} host explanations)")
    print(f"  same hosts as naive, per app: {'yes' if same else 'NO'}")
    print(f"full re-placement from scratch of {replicas:,} replicas on {len(empty):,} hosts:")
    print(f"  heap placer:                  {heap_full_t * 1e3:8.0f} ms")
    print(f"  naive reference:              {naive_full_t:8.1f} s   (timed on {NAIVE_APPS * PER_APP} replicas: "
          f"{naive_sample_t:.2f} s, scaled by {APPS // NAIVE_APPS})")
    print(f"  what-if vs naive full:        {naive_full_t / answer_t:8,.0f}x faster; vs heap full: "
          f"{heap_full_t / answer_t:,.0f}x")
    print(f"report headroom (N-1 over {len(room.losses):,} hosts, {len(room.apps)} apps): {room_t * 1e3:.0f} ms, "
          f"{'survives' if room.survives else 'NOT survivable'} ({room.placed} losses placed in full)")
    ok = same and answer_t * 1e3 <= TARGET_MS
    print(f"target: plan --lose <= {TARGET_MS:.0f} ms at {HOSTS:,} hosts / {replicas:,} replicas: "
          f"{'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
