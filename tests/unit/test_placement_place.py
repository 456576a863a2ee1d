"""Batch placement: exact replica sequences, explanations and why replicas stay unplaced."""

import pytest

from paasops.errors import PlacementError, UserInputError
from paasops.placement import Assignment, HostSnapshot, Request, place, place_or_raise
from paasops.placement.reference import naive_place

# Three hosts with different capacities: node1 is memory-rich, node2 CPU-rich, node3 small.
THREE = [
    HostSnapshot(id="node1", total_cpu=4, total_mem_mb=16384, reserved_cpu=1.0, reserved_mem_mb=2048),
    HostSnapshot(id="node2", total_cpu=8, total_mem_mb=8192),
    HostSnapshot(id="node3", total_cpu=2, total_mem_mb=4096),
]
WEB = Request("web", cpus=1.0, memory_mb=1024)

# Every replica sees the reservations of those before it; the winner of each round (65/35):
EIGHT = [
    # r0  node2: cpu (1 - (0 + 1)/8) * 65 = 56.875, mem (1 - (0 + 1024)/8192) * 35 = 30.625 -> 87.5
    #     (node1: 32.5 + (1 - (2048 + 1024)/16384) * 35 = 28.4375 -> 60.9375; node3: 32.5 + 26.25 = 58.75)
    Assignment(0, "node2", 87.5, 56.875, 30.625),
    # r1  node2: cpu (1 - (1 + 1)/8) * 65 = 48.75, mem (1 - (1024 + 1024)/8192) * 35 = 26.25 -> 75
    Assignment(1, "node2", 75.0, 48.75, 26.25),
    # r2  node2: cpu (1 - (2 + 1)/8) * 65 = 40.625, mem (1 - (2048 + 1024)/8192) * 35 = 21.875 -> 62.5
    Assignment(2, "node2", 62.5, 40.625, 21.875),
    # r3  node1: cpu (1 - (1 + 1)/4) * 65 = 32.5, mem (1 - (2048 + 1024)/16384) * 35 = 28.4375 -> 60.9375
    #     beats node3 (32.5 + 26.25 = 58.75) on memory, and node2 (32.5 + 17.5 = 50)
    Assignment(3, "node1", 60.9375, 32.5, 28.4375),
    # r4  node3: cpu (1 - (0 + 1)/2) * 65 = 32.5, mem (1 - (0 + 1024)/4096) * 35 = 26.25 -> 58.75
    #     (node2: 50; node1: (1 - 3/4) * 65 = 16.25 + (1 - 4096/16384) * 35 = 26.25 -> 42.5)
    Assignment(4, "node3", 58.75, 32.5, 26.25),
    # r5  node2: cpu (1 - (3 + 1)/8) * 65 = 32.5, mem (1 - (3072 + 1024)/8192) * 35 = 17.5 -> 50
    #     (node3 now: (1 - 2/2) * 65 = 0 + (1 - 2048/4096) * 35 = 17.5 -> 17.5)
    Assignment(5, "node2", 50.0, 32.5, 17.5),
    # r6  node1: cpu (1 - (2 + 1)/4) * 65 = 16.25, mem (1 - (3072 + 1024)/16384) * 35 = 26.25 -> 42.5
    #     (node2: (1 - 5/8) * 65 = 24.375 + (1 - 5120/8192) * 35 = 13.125 -> 37.5)
    Assignment(6, "node1", 42.5, 16.25, 26.25),
    # r7  node2: 24.375 + 13.125 = 37.5
    #     (node1: (1 - 4/4) * 65 = 0 + (1 - 5120/16384) * 35 = 24.0625; node3: 17.5)
    Assignment(7, "node2", 37.5, 24.375, 13.125),
]


def test_batch_of_8_on_3_hosts_exact_sequence():
    plan = place(THREE, WEB, 8)
    assert list(plan.assignments) == EIGHT
    assert plan.complete and plan.unplaced == ()
    assert plan.placements_by_host() == {"node2": 5, "node1": 2, "node3": 1}


def test_explanation_has_each_hosts_initial_terms():
    plan = place(THREE, WEB, 8)
    rows = plan.explain_table()
    assert [(r["host"], r["score"], r["cpu"], r["memory"], r["placed"]) for r in rows] == [
        ("node2", 87.5, 56.875, 30.625, 5),
        ("node1", 60.9375, 32.5, 28.4375, 2),
        ("node3", 58.75, 32.5, 26.25, 1),
    ]
    assert all(r["status"] == "fits" and r["reason"] is None for r in rows)
    assert set(rows[0]) == {"host", "status", "score", "cpu", "memory", "replicas", "placed", "filter", "reason"}


def test_weights_are_configurable():
    # memory only: r0 node2 (1 - 1024/8192) * 100 = 87.5 beats node1 (1 - 3072/16384) * 100 = 81.25;
    # r1 node1 81.25 beats node2 (1 - 2048/8192) * 100 = 75 (with 65/35 node2 took it again)
    plan = place(THREE, WEB, 2, weights=(0, 100))
    assert [a.host_id for a in plan.assignments] == ["node2", "node1"]
    assert plan.assignments[1].cpu_term == 0 and plan.assignments[1].mem_term == 81.25
    assert plan.weights.cpu == 0


def test_ties_break_on_the_lowest_host_id():
    hosts = [HostSnapshot(id=h, total_cpu=4, total_mem_mb=4096) for h in ("b", "c", "a")]
    # all score (1 - 1/4) * 65 + (1 - 1024/4096) * 35 = 75; each winner then drops to 50
    plan = place(hosts, WEB, 4)
    assert [a.host_id for a in plan.assignments] == ["a", "b", "c", "a"]


def test_spread_fewest_replicas_first_then_thesis_score():
    hosts = [
        HostSnapshot(id="node1", total_cpu=4, total_mem_mb=8192, reserved_cpu=1.0, reserved_mem_mb=1024,
                     replicas={"web": 2}),
        HostSnapshot(id="node2", total_cpu=4, total_mem_mb=8192),
        HostSnapshot(id="node3", total_cpu=8, total_mem_mb=16384),
    ]
    small = Request("web", cpus=0.5, memory_mb=512)
    plan = place(hosts, small, 5, strategy="spread")
    # r0 0 replicas on node2 and node3: node3 (1 - 0.5/8) * 65 + (1 - 512/16384) * 35 = 94.84375
    #    beats node2 (1 - 0.5/4) * 65 + (1 - 512/8192) * 35 = 89.6875
    # r1 node2 is the only host with 0
    # r2 node2, node3 at 1: node3 (1 - 1/8) * 65 + (1 - 1024/16384) * 35 = 89.6875 beats node2 79.375
    # r3 node2 is the only host with 1
    # r4 all at 2: node3 (1 - 1.5/8) * 65 + (1 - 1536/16384) * 35 = 84.53125 beats node1 = node2 = 69.0625
    assert [a.host_id for a in plan.assignments] == ["node3", "node2", "node3", "node2", "node3"]
    assert plan.assignments[4].score == 84.53125
    assert [r["replicas"] for r in plan.explain_table()] == [0, 0, 2]


def test_binpack_fills_the_most_allocated_host_first():
    hosts = [
        HostSnapshot(id="node1", total_cpu=4, total_mem_mb=8192, reserved_cpu=3.0, reserved_mem_mb=6144),
        HostSnapshot(id="node2", total_cpu=8, total_mem_mb=16384),
        HostSnapshot(id="node3", total_cpu=4, total_mem_mb=8192, reserved_cpu=1.0, reserved_mem_mb=2048),
    ]
    half = Request("web", cpus=0.5, memory_mb=1024)
    plan = place(hosts, half, 4, strategy="binpack")
    # r0 node1: (3 + 0.5)/4 * 65 = 56.875 + (6144 + 1024)/8192 * 35 = 30.625 -> 87.5
    # r1 node1: (3.5 + 0.5)/4 * 65 = 65 + (7168 + 1024)/8192 * 35 = 35 -> 100, then node1 is full
    # r2 node3: (1 + 0.5)/4 * 65 = 24.375 + (2048 + 1024)/8192 * 35 = 13.125 -> 37.5
    # r3 node3: (1.5 + 0.5)/4 * 65 = 32.5 + (3072 + 1024)/8192 * 35 = 17.5 -> 50
    assert [(a.host_id, a.score) for a in plan.assignments] == [
        ("node1", 87.5), ("node1", 100.0), ("node3", 37.5), ("node3", 50.0),
    ]


def test_requested_host_port_allows_one_replica_per_host():
    hosts = [HostSnapshot(id=f"node{i}", total_cpu=8, total_mem_mb=16384) for i in (1, 2, 3)]
    hosts[0] = HostSnapshot(id="node1", total_cpu=8, total_mem_mb=16384, used_ports={80})
    plan = place(hosts, Request("web", cpus=0.5, memory_mb=512, ports=[80]), 3)
    assert [a.host_id for a in plan.assignments] == ["node2", "node3"]
    assert [u.replica_index for u in plan.unplaced] == [2]
    assert dict(plan.unplaced[0].reasons) == {
        "node1": "port 80 in use", "node2": "port 80 in use", "node3": "port 80 in use",
    }
    assert plan.failure_message() == "no host can take replica 3 of web (2 of 3 placed): node1, node2, node3: port 80 in use"
    assert plan.explanation[0].rejected_by == "ports"


def test_constraints_keep_replicas_on_matching_hosts():
    hosts = [
        HostSnapshot(id="a1", total_cpu=4, total_mem_mb=8192, labels={"zone": "a", "disk": "ssd"}),
        HostSnapshot(id="a2", total_cpu=4, total_mem_mb=8192, labels={"zone": "a", "disk": "hdd"}),
        HostSnapshot(id="b1", total_cpu=64, total_mem_mb=262144, labels={"zone": "b", "disk": "ssd"}),
    ]
    plan = place(hosts, Request("db", cpus=1, memory_mb=1024, constraints=["zone==a", "disk!=hdd"]), 3)
    assert [a.host_id for a in plan.assignments] == ["a1", "a1", "a1"]
    rows = {r["host"]: r for r in plan.explain_table()}
    assert rows["a2"]["status"] == "rejected" and rows["a2"]["filter"] == "constraints"
    assert rows["a2"]["reason"] == "constraint disk!=hdd: disk is hdd"
    assert rows["b1"]["reason"] == "constraint zone==a: zone is b"
    assert rows["b1"]["score"] is None and rows["b1"]["cpu"] is None


def test_unplaced_replicas_carry_every_hosts_reason():
    hosts = [
        HostSnapshot(id="node1", total_cpu=4, total_mem_mb=1024, reserved_mem_mb=768, labels={"zone": "a"}),
        HostSnapshot(id="node2", total_cpu=4, total_mem_mb=8192, healthy=False, status="down", labels={"zone": "a"}),
        HostSnapshot(id="node3", total_cpu=4, total_mem_mb=8192, labels={"zone": "b"}),
        HostSnapshot(id="node4", total_cpu=4, total_mem_mb=8192, healthy=False, status="down"),
    ]
    request = Request("web", cpus=0.5, memory_mb=512, constraints=["zone==a"])
    plan = place(hosts, request, 2)
    assert plan.assignments == () and [u.replica_index for u in plan.unplaced] == [0, 1]
    message = (
        "no host can take replica 1 of web: node2, node4: unhealthy (down); "
        "node1: memory: needs 512 MB, 256 MB free; node3: constraint zone==a: zone is b"
    )
    assert plan.failure_message() == message
    with pytest.raises(PlacementError) as info:
        place_or_raise(hosts, request, 2)
    assert str(info.value) == message
    assert info.value.plan == plan
    assert info.value.exit_code == 2


def test_partial_batch_reasons_reflect_the_planned_reservations():
    hosts = [HostSnapshot(id="node1", total_cpu=2, total_mem_mb=4096, reserved_cpu=0.5)]
    plan = place(hosts, Request("web", cpus=0.5, memory_mb=256), 5)
    # 0.5 + 3 * 0.5 = 2 CPUs: three replicas fit, the fourth finds 0 free
    assert len(plan.assignments) == 3
    assert plan.unplaced[0].reasons == {"node1": "cpu: needs 0.5 CPUs, 0 free"}
    assert plan.failure_message() == "no host can take replica 4 of web (3 of 5 placed): node1: cpu: needs 0.5 CPUs, 0 free"
    assert plan.explanation[0].fits and plan.explanation[0].placed == 3


def test_long_failure_messages_are_grouped_and_capped():
    hosts = [HostSnapshot(id=f"n{i:02d}", total_cpu=1, total_mem_mb=100 + i) for i in range(20)]
    hosts += [HostSnapshot(id=f"d{i}", total_cpu=1, total_mem_mb=1, healthy=False, status="down") for i in range(7)]
    message = place(hosts, Request("big", memory_mb=4096), 1).failure_message()
    assert message.startswith("no host can take replica 1 of big: d0, d1, d2, d3, d4 and 2 more: unhealthy (down); ")
    assert message.endswith("; 11 more hosts for other reasons")


def test_place_or_raise_returns_a_complete_plan():
    assert list(place_or_raise(THREE, WEB, 8).assignments) == EIGHT


def test_edge_cases():
    assert place(THREE, WEB, 0).assignments == ()
    assert place([], WEB, 1).failure_message() == "no host can take replica 1 of web: there are no hosts"
    with pytest.raises(UserInputError, match="count: replica count must be >= 0"):
        place(THREE, WEB, -1)
    with pytest.raises(UserInputError, match="duplicate host id 'node1'"):
        place(THREE + [THREE[0]], WEB, 1)
    with pytest.raises(UserInputError, match="unknown placement strategy"):
        place(THREE, WEB, 1, strategy="random")


def test_the_snapshot_is_not_mutated():
    before = [(h.reserved_cpu, h.reserved_mem_mb, set(h.used_ports), dict(h.replicas)) for h in THREE]
    place(THREE, Request("web", cpus=1, memory_mb=1024, ports=[8080]), 3)
    assert [(h.reserved_cpu, h.reserved_mem_mb, set(h.used_ports), dict(h.replicas)) for h in THREE] == before


@pytest.mark.parametrize("strategy", ["thesis", "spread", "binpack"])
def test_heap_and_reference_agree_on_the_fixed_cases(strategy):
    for count in (1, 8, 30):
        assert place(THREE, WEB, count, strategy) == naive_place(THREE, WEB, count, strategy)
