"""Rebalance as data: a host back empty gets moves, a balanced cluster none, filters and the budget hold, and a plan
applied then planned again has no moves left (checked against the naive reference placer from scratch)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from paasops.errors import UserInputError
from paasops.placement import HostSnapshot, Request
from paasops.placement.rebalance import MAX_MOVES, THRESHOLD, rebalance
from paasops.placement.reference import naive_place
from paasops.placement.whatif import Demand

WEB = Request("web", cpus=0.5, memory_mb=256)
ZONED = Request("zoned", cpus=0.5, memory_mb=256, constraints=("zone==a",))
DB = Request("db", cpus=0.25, memory_mb=128, ports=(5432,))
LB = Request("lb", cpus=0.1, memory_mb=64)
REQUESTS = {r.app: r for r in (WEB, ZONED, DB, LB)}
DEMANDS = {"web": Demand(WEB), "zoned": Demand(ZONED), "db": Demand(DB), "lb": Demand(LB, "spread")}


def host(id_: str, cpu: float = 4, mem: int = 4096, labels: dict | None = None, **replicas: int) -> HostSnapshot:
    """A host holding `replicas` (app -> count), its reservations and ports what they ask for."""
    return HostSnapshot(id=id_, total_cpu=cpu, total_mem_mb=mem, replicas=replicas, labels=labels or {},
                        reserved_cpu=sum(REQUESTS[a].cpus * n for a, n in replicas.items()),
                        reserved_mem_mb=sum(REQUESTS[a].memory_mb * n for a, n in replicas.items()),
                        used_ports=frozenset(p for a, n in replicas.items() if n for p in REQUESTS[a].ports))


def counts(hosts, app: str) -> dict[str, int]:
    return {h.id: h.replicas.get(app, 0) for h in hosts}


def test_a_host_back_empty_takes_replicas_until_the_cluster_is_what_placement_chooses_from_scratch():
    hosts = [host("lab1", web=4), host("lab2", web=4), host("lab3")]
    plan = rebalance(hosts, DEMANDS)
    # lab1 without one replica (1.5 CPUs, 768 MB) scores (1 - 2/4) * 65 + (1 - 1024/4096) * 35 = 32.5 + 26.25 = 58.75;
    # empty lab3 (1 - 0.5/4) * 65 + (1 - 256/4096) * 35 = 56.875 + 32.8125 = 89.6875: the gain is 30.9375
    assert [(m.app, m.from_host, m.to_host) for m in plan.moves] == [("web", "lab1", "lab3"), ("web", "lab2", "lab3")]
    assert plan.moves[0].improvement == pytest.approx(30.9375)
    assert (plan.moves[0].from_score, plan.moves[0].to_score) == (pytest.approx(58.75), pytest.approx(89.6875))
    assert plan.moves[0].improvement >= plan.moves[1].improvement > THRESHOLD  # best first
    scratch = naive_place([host(h.id) for h in hosts], WEB, 8).placements_by_host()
    assert sorted(counts(plan.hosts, "web").values()) == sorted(scratch.values()) == [2, 3, 3]
    assert not plan.cut and rebalance(plan.hosts, DEMANDS).moves == ()  # applied, then planned again: nothing


def test_a_cluster_placed_as_placement_places_it_gets_no_moves():
    empty = [host("lab1"), host("lab2", 2, 2048), host("lab3", 8, 8192)]
    placed = naive_place(empty, WEB, 9).placements_by_host()
    hosts = [host(h.id, h.total_cpu, h.total_mem_mb, web=placed.get(h.id, 0)) for h in empty]
    assert rebalance(hosts, DEMANDS).moves == ()
    assert rebalance([host("lab1")], DEMANDS).moves == () and rebalance([], DEMANDS).moves == ()


def test_the_budget_cuts_the_plan_best_first_and_bad_budgets_are_refused():
    hosts = [host("lab1", web=6), host("lab2", web=6), host("lab3"), host("lab4")]
    full = rebalance(hosts, DEMANDS)
    assert len(full.moves) > 2 and not full.cut
    two = rebalance(hosts, DEMANDS, max_moves=2)
    assert two.moves == full.moves[:2] and two.cut
    assert [m.improvement for m in full.moves] == sorted((m.improvement for m in full.moves), reverse=True)
    for bad in (0, -1, MAX_MOVES + 1, True, 2.5):
        with pytest.raises(UserInputError, match="move budget must be 1 to"):
            rebalance(hosts, DEMANDS, max_moves=bad)


def test_moves_go_only_where_every_filter_lets_the_replica():
    zoned = [host("a1", labels={"zone": "a"}, zoned=4), host("b1", labels={"zone": "b"}),
             host("a2", labels={"zone": "a"})]
    plan = rebalance(zoned, DEMANDS)
    assert plan.moves and {m.to_host for m in plan.moves} == {"a2"}  # b1 is empty but breaks zone==a
    drained = replace(host("lab3"), schedulable=False)
    down = replace(host("lab4"), healthy=False, status="down")
    full = host("lab5", 1, 4096, lb=10)  # 10 x 0.1 CPUs: no room for half a CPU
    assert rebalance([host("lab1", web=4), drained, down, full], DEMANDS, apps={"web"}.__contains__).moves == ()
    # host ports: db's 5432 is taken on lab2, so its second replica on lab1 can go to the empty lab3 only
    db = {"db"}.__contains__
    plan = rebalance([host("lab1", db=1, web=6), host("lab2", db=1), host("lab3", web=6)], DEMANDS, apps=db)
    assert plan.moves == ()  # the least loaded lab2 has the port taken; lab3 scores as lab1 does without it
    plan = rebalance([host("lab1", db=1, web=6), host("lab2", db=1), host("lab3")], DEMANDS, apps=db)
    assert [(m.from_host, m.to_host) for m in plan.moves] == [("lab1", "lab3")]


def test_replicas_on_hosts_placement_rejects_are_left_to_drain_and_reconcile():
    hosts = [replace(host("lab1", web=4), schedulable=False), replace(host("lab2", web=4), healthy=False),
             host("lab3", labels={"zone": "b"}, zoned=2), host("lab4")]
    assert rebalance(hosts, DEMANDS).moves == ()


def test_moves_name_the_highest_index_of_the_replicas_listed_and_only_those():
    hosts = [host("lab1", web=4), host("lab2")]
    plan = rebalance(hosts, DEMANDS, indexes={("web", "lab1"): [1, 2, 7, 4]})
    assert [(m.replica, m.to_host) for m in plan.moves] == [(7, "lab2"), (4, "lab2")]
    only_one = rebalance(hosts, DEMANDS, indexes={("web", "lab1"): [3]})  # the others: another release
    assert [(m.replica, m.from_host) for m in only_one.moves] == [(3, "lab1")]
    assert rebalance(hosts, DEMANDS, indexes={}).moves == ()


def test_an_app_pattern_limits_the_apps_moved():
    hosts = [host("lab1", web=4, lb=4), host("lab2")]
    assert {m.app for m in rebalance(hosts, DEMANDS).moves} == {"web", "lb"}
    assert {m.app for m in rebalance(hosts, DEMANDS, apps=lambda a: a == "lb").moves} == {"lb"}
    assert rebalance([host("lab1", web=4), host("lab2")], {}).moves == ()  # no demand: never moved


def test_spread_evens_out_the_replica_counts_first():
    plan = rebalance([host("lab1", lb=5), host("lab2", 16, 16384), host("lab3")], DEMANDS, apps={"lb"}.__contains__)
    # spread takes the host with fewer replicas first: 5/0/0 ends 2/2/1 (or a permutation), whatever the sizes
    assert sorted(counts(plan.hosts, "lb").values()) == [1, 2, 2]
    assert plan.moves[0].improvement > 2 * 100 - 100  # a replica of imbalance outweighs any score gap
    assert rebalance(plan.hosts, DEMANDS).moves == ()


@pytest.mark.parametrize("layout", [
    {"lab1": (4, 4096, {"web": 7, "lb": 3}), "lab2": (2, 2048, {"db": 1}), "lab3": (8, 8192, {})},
    {"lab1": (8, 8192, {"web": 1}), "lab2": (2, 2048, {"web": 3, "db": 1, "lb": 4}), "lab3": (4, 1024, {"db": 1})},
    {"h1": (16, 65536, {"web": 20}), "h2": (16, 65536, {}), "h3": (4, 16384, {"lb": 9}), "h4": (1, 512, {})},
])
def test_a_plan_applied_then_planned_again_has_no_moves_and_holds_every_replica(layout):
    hosts = [host(name, cpu, mem, **apps) for name, (cpu, mem, apps) in layout.items()]
    plan = rebalance(hosts, DEMANDS)
    assert rebalance(plan.hosts, DEMANDS).moves == ()
    total = Counter()
    for h in hosts:
        total.update(h.replicas)
    after = Counter()
    for h in plan.hosts:
        after.update(h.replicas)
        assert h.reserved_cpu <= h.total_cpu + 1e-9 and h.reserved_mem_mb <= h.total_mem_mb
    assert +after == +total


def naive(hosts: list[HostSnapshot], demands: dict, max_moves: int) -> list:
    """The plan as the naive reference makes it: every host scored again for every app at every step."""
    from paasops.placement.model import Weights
    from paasops.placement.rebalance import best_move, with_one, without_one

    moves = []
    while len(moves) < max_moves:
        found = [m for name in sorted(demands) if (m := best_move(hosts, name, demands[name], Weights(), THRESHOLD,
                                                                  None))]
        if not found:
            break
        move = min(found, key=lambda m: (-m.improvement, m.app))
        request = demands[move.app].request
        hosts = [without_one(h, request) if h.id == move.from_host else
                 with_one(h, request) if h.id == move.to_host else h for h in hosts]
        moves.append(move)
    return moves


@pytest.mark.parametrize("seed", range(12))
def test_the_planner_makes_the_moves_the_naive_reference_makes(seed):
    import random

    rng = random.Random(seed)
    sizes = [(4, 4096), (2, 2048), (8, 8192), (16, 32768)]
    layout = []
    for i in range(rng.randint(2, 9)):
        cpu, mem = rng.choice(sizes)
        apps = {a: rng.randint(0, 1 if a == "db" else 4) for a in ("web", "lb", "zoned", "db") if rng.random() < 0.6}
        while sum(REQUESTS[a].cpus * n for a, n in apps.items()) > cpu:
            apps = {a: n // 2 for a, n in apps.items()}
        h = host(f"h{i}", cpu, mem, labels={"zone": rng.choice("ab")}, **apps)
        layout.append(replace(h, schedulable=rng.random() > 0.1))
    plan = rebalance(layout, DEMANDS, max_moves=40)
    assert [(m.app, m.from_host, m.to_host) for m in plan.moves] == [
        (m.app, m.from_host, m.to_host) for m in naive(layout, DEMANDS, 40)]
    assert [m.improvement for m in plan.moves] == pytest.approx([m.improvement for m in naive(layout, DEMANDS, 40)])
