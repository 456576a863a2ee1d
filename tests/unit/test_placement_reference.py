"""Property check: the heap placer makes exactly the naive reference's plan on random snapshots."""

import random

import pytest

from paasops.placement import HostSnapshot, Request, place
from paasops.placement.reference import naive_place

CONSTRAINTS = ["zone==a", "zone!=c", "ssd", "!gpu", "zone=b"]


def random_snapshot(rng: random.Random) -> list[HostSnapshot]:
    hosts = []
    for i in rng.sample(range(1000), rng.randint(0, 25)):
        total_cpu = rng.choice([0.5, 1, 2, 3, 4, 8])
        total_mem = rng.choice([512, 1024, 2048, 3000, 4096])
        labels = {"zone": rng.choice("abc")}
        if rng.random() < 0.5:
            labels["ssd"] = "yes"
        if rng.random() < 0.2:
            labels["gpu"] = "1"
        hosts.append(
            HostSnapshot(
                id=f"h{i:03d}",
                healthy=rng.random() > 0.15,
                status=rng.choice(["down", "degraded"]),
                labels=labels,
                total_cpu=total_cpu,
                total_mem_mb=total_mem,
                # coarse values make exact score ties (and so the id tie-break) common
                reserved_cpu=rng.choice([0, 0.1, 0.25, 0.5, 1]) * total_cpu,
                reserved_mem_mb=rng.choice([0, 256, 512, 1024]),
                used_ports=rng.sample([80, 443, 8080], rng.randint(0, 2)),
                replicas={"web": rng.randint(0, 3)} if rng.random() < 0.5 else {},
            )
        )
    return hosts


def random_request(rng: random.Random) -> Request:
    return Request(
        "web",
        cpus=rng.choice([0, 0.1, 0.25, 0.5, 1, 1.5]),
        memory_mb=rng.choice([0, 128, 256, 512, 1000]),
        ports=rng.sample([80, 443, 8080], rng.choice([0, 0, 0, 1, 2])),
        constraints=rng.sample(CONSTRAINTS, rng.choice([0, 0, 1, 2])),
    )


@pytest.mark.parametrize("seed", range(20))
def test_heap_equals_naive_reference(seed):
    rng = random.Random(seed)
    for _ in range(25):
        hosts = random_snapshot(rng)
        request = random_request(rng)
        count = rng.randint(0, 40)
        strategy = rng.choice(["thesis", "spread", "binpack"])
        weights = rng.choice([None, (65, 35), (1, 0), (0, 1), (30, 70)])
        heap = place(hosts, request, count, strategy, weights)
        naive = naive_place(hosts, request, count, strategy, weights)
        assert heap == naive, (seed, hosts, request, count, strategy, weights)
