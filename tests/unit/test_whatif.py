"""What-if as data: lost, drained and added hosts, stranded apps, checked against the naive reference placer."""

from __future__ import annotations

from dataclasses import replace

import pytest

from paasops.errors import UserInputError
from paasops.placement import HostSnapshot, Request
from paasops.placement.evacuate import Move, evacuate, with_plan
from paasops.placement.reference import naive_place
from paasops.placement.whatif import LOST, Demand, Scenario, added_host, as_result, displaced, what_if

WEB = Request("web", cpus=0.5, memory_mb=256)
BIG = Request("big", cpus=6.0, memory_mb=1024)
DB = Request("db", cpus=1.0, memory_mb=1024, ports=(5432,))
DEMANDS = {"web": Demand(WEB), "big": Demand(BIG), "db": Demand(DB, "spread")}


def host(id_: str, cpu: float, mem: int, **replicas: int) -> HostSnapshot:
    """A host holding `replicas` (app -> count), its reservations what they ask for."""
    reqs = {r.app: r for r in (WEB, BIG, DB)}
    return HostSnapshot(id=id_, total_cpu=cpu, total_mem_mb=mem, replicas=replicas,
                        reserved_cpu=sum(reqs[a].cpus * n for a, n in replicas.items()),
                        reserved_mem_mb=sum(reqs[a].memory_mb * n for a, n in replicas.items()),
                        used_ports=frozenset(p for a in replicas for p in reqs[a].ports))


# lab3 holds 5 of web's 8 replicas, and big (6 CPUs: no other host has 6 free)
LAB = [host("lab1", 4, 4096, web=1), host("lab2", 4, 4096, web=2, db=1), host("lab3", 16, 8192, web=5, big=1)]


def naive_targets(hosts: list[HostSnapshot], request: Request, count: int, strategy: str = "thesis") -> list[str]:
    return [a.host_id for a in naive_place(hosts, request, count, strategy).assignments]


def test_losing_a_host_places_its_replicas_as_the_naive_reference_does_and_names_what_is_stranded():
    plan = what_if(LAB, DEMANDS, Scenario(lose=("lab3",)))
    by_app = {a.app: a for a in plan.apps}
    assert list(by_app) == ["big", "web"]  # name order, as a drain moves them
    others = [h for h in LAB if h.id != "lab3"]
    # big first: nothing fits (4 CPUs at most), the others unchanged for web
    assert by_app["big"].placed == 0 and by_app["big"].stranded == 1
    assert "no host can take replica 1 of big" in by_app["big"].why
    assert "cpu: needs 6 CPUs" in by_app["big"].why
    web = by_app["web"]
    assert web.origins == ("lab3",) * 5 and web.stranded == 0
    assert [a.host_id for a in web.plan.assignments] == naive_targets(others, WEB, 5)
    assert plan.stranded == {"big": 1} and not plan.complete
    # the lost host shows as rejected by the healthy filter, holding nothing
    lost = next(e for e in web.plan.explanation if e.host_id == "lab3")
    assert (lost.fits, lost.rejected_by, lost.reason, lost.replicas) == (False, "healthy", f"unhealthy ({LOST})", 0)


def test_each_app_sees_the_replicas_placed_before_it():
    hosts = [host("a", 2, 4096, web=2, db=1), host("b", 2, 2048), host("c", 1.5, 2048)]
    plan = what_if(hosts, DEMANDS, Scenario(lose=("a",)))
    db, web = plan.apps
    others = [h for h in hosts if h.id != "a"]
    assert [x.host_id for x in db.plan.assignments] == naive_targets(others, DB, 1, "spread")
    after_db = with_plan(others, DB, db.plan)
    assert [x.host_id for x in web.plan.assignments] == naive_targets(after_db, WEB, 2)
    after = {h.id: h for h in plan.after}
    assert sum(after[h].replicas.get("web", 0) for h in ("b", "c")) == 2


def test_a_drain_places_as_the_drains_evacuation_and_shows_the_host_as_unschedulable():
    hosts = [host("a", 4, 4096, web=3), host("b", 4, 4096, web=1), host("c", 2, 2048)]
    plan = what_if(hosts, DEMANDS, Scenario(drain=("a",)))
    evacuation = evacuate(hosts, "a", [Move(WEB, 3)])
    assert plan.apps[0].plan.assignments == evacuation.plans[0].assignments
    drained = next(e for e in plan.apps[0].plan.explanation if e.host_id == "a")
    assert (drained.rejected_by, drained.replicas) == ("schedulable", 3)


def test_an_added_host_takes_what_the_others_cannot():
    plan = what_if(LAB, DEMANDS, Scenario(lose=("lab3",), add=(added_host("lab9=8:8g"),)))
    big = plan.apps[0]
    assert big.app == "big" and big.stranded == 0
    assert [a.host_id for a in big.plan.assignments] == ["lab9"]
    assert plan.complete and plan.hosts[-1].total_mem_mb == 8192


def test_an_app_count_is_placed_after_the_moves_as_new_replicas():
    api = Demand(Request("api", cpus=1, memory_mb=512))
    plan = what_if(LAB, DEMANDS, Scenario(drain=("lab1",), app=api, count=3))
    web, new = plan.apps
    assert web.origins == ("lab1",) and new.origins == (None, None, None)
    after_web = with_plan([replace(LAB[0], schedulable=False), *LAB[1:]], WEB, web.plan)
    assert [a.host_id for a in new.plan.assignments] == naive_targets(after_web, api.request, 3)
    result = as_result(plan, Scenario(drain=("lab1",), app=api, count=3))
    assert [(a.app, a.kind, a.placed) for a in result.apps] == [("web", "moved", 1), ("api", "new", 3)]
    assert result.apps[0].moves[0].from_host == "lab1" and result.apps[1].moves[0].from_host is None
    assert result.complete and result.message == "all 4 replica(s) would be placed"


def test_replicas_of_an_app_without_a_spec_are_named_not_placed():
    hosts = [host("a", 4, 4096, web=1), host("b", 4, 4096)]
    plan = what_if(hosts, {}, Scenario(lose=("a",)))
    assert plan.apps[0].plan is None and plan.apps[0].stranded == 1
    assert "no spec of app 'web'" in plan.apps[0].why


def test_the_answer_shows_only_the_visible_apps():
    scenario = Scenario(lose=("lab3",))
    result = as_result(what_if(LAB, DEMANDS, scenario), scenario, visible=lambda app: app == "web")
    assert [a.app for a in result.apps] == ["web"] and result.complete
    full = as_result(what_if(LAB, DEMANDS, scenario), scenario)
    assert full.stranded == 1 and "big (1)" in full.message
    assert full.apps[0].explanation[0].status == "rejected"  # every host rejected for big


def test_the_snapshot_is_not_changed():
    before = [replace(h) for h in LAB]
    what_if(LAB, DEMANDS, Scenario(lose=("lab3",), drain=("lab1",), add=(added_host("n=1:1g"),)))
    assert LAB == before


def test_displaced_lists_lost_hosts_then_drained_ones():
    scenario = Scenario(lose=("lab3",), drain=("lab2",))
    assert displaced(LAB, scenario) == {"big": ["lab3"], "db": ["lab2"], "web": ["lab3"] * 5 + ["lab2"] * 2}


@pytest.mark.parametrize("scenario, where, words", [
    (Scenario(lose=("nope",)), "--lose", "no host 'nope'"),
    (Scenario(drain=("lab1", "x")), "--drain", "no host 'x'"),
    (Scenario(lose=("lab1",), drain=("lab1",)), "--lose/--drain", "'lab1' named more than once"),
    (Scenario(add=(added_host("lab2=1:1g"),)), "--add", "'lab2' exists already"),
    (Scenario(count=-1), "--count", "must be >= 0"),
])
def test_bad_scenarios_name_what_is_wrong(scenario, where, words):
    with pytest.raises(UserInputError) as err:
        what_if(LAB, DEMANDS, scenario)
    assert err.value.where == where and words in str(err.value)


@pytest.mark.parametrize("text, words", [
    ("lab9", "expected HOST=CPUS:MEM"), ("=4:8g", "expected HOST=CPUS:MEM"), ("lab9=x:8g", "CPUs must be a number"),
    ("lab9=4:lots", "memory must be MB"), ("lab9=0:8g", "CPUs must be > 0"), ("lab9=nan:8g", "CPUs must be > 0"),
    ("lab9=4:0", "memory must be >= 1 MB"),
])
def test_bad_added_hosts_are_refused(text, words):
    with pytest.raises(UserInputError) as err:
        added_host(text)
    assert words in str(err.value) and text in err.value.where


def test_added_host_sizes():
    assert (added_host("n=2.5:2048").total_cpu, added_host("n=2.5:2048").total_mem_mb) == (2.5, 2048)
    assert added_host("n=1:1.5g").total_mem_mb == 1536


def test_the_answer_explains_the_hosts_that_matter_first():
    hosts = [host(f"h{i:02d}", 4, 4096) for i in range(30)] + [host("gone", 4, 4096, web=3)]
    scenario = Scenario(lose=("gone",))
    result = as_result(what_if(hosts, DEMANDS, scenario), scenario, explain=5)
    web = result.apps[0]
    shown = [e.host for e in web.explanation]
    assert web.hosts == 31 and len(shown) == 5
    assert {m.host for m in web.moves} <= set(shown) and "gone" in shown
    assert len(as_result(what_if(hosts, DEMANDS, scenario), scenario).apps[0].explanation) == 31


def test_the_cli_takes_hosts_repeated_or_comma_separated():
    from paasops.cli.commands.plan import names

    assert names(["lab1", "lab2, lab3", " ", "lab4,"]) == ["lab1", "lab2", "lab3", "lab4"] and names(None) == []
