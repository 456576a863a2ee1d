"""Headroom as data: more replicas per app, N-1 per host, CPU and memory overall, on two hand-built clusters."""

from __future__ import annotations

import pytest

from paasops.placement import HostSnapshot, Request, place
from paasops.placement.headroom import app_room, as_result, fits_on, headroom
from paasops.placement.whatif import Demand

WEB = Request("web", cpus=0.5, memory_mb=512)
BIG = Request("big", cpus=3.5, memory_mb=1024)
REQS = {"web": WEB, "big": BIG}


def host(id_: str, cpu: float, mem: int, **replicas: int) -> HostSnapshot:
    return HostSnapshot(id=id_, total_cpu=cpu, total_mem_mb=mem, replicas=replicas,
                        reserved_cpu=sum(REQS[a].cpus * n for a, n in replicas.items()),
                        reserved_mem_mb=sum(REQS[a].memory_mb * n for a, n in replicas.items()))


# Survives: three 4-CPU/4 GB hosts, 2 web replicas each (1 CPU, 1024 MB reserved each).
EVEN = [host("lab1", 4, 4096, web=2), host("lab2", 4, 4096, web=2), host("lab3", 4, 4096, web=2)]
# Does not: big (3.5 CPUs) fills lab1; no other host has 3.5 CPUs free, though 4.5 are free overall.
#   lab1 4/4096: big + web  -> 4.0 CPUs, 1536 MB reserved
#   lab2 4/4096: web x2     -> 1.0 CPUs, 1024 MB
#   lab3 2/2048: web        -> 0.5 CPUs,  512 MB
TIGHT = [host("lab1", 4, 4096, big=1, web=1), host("lab2", 4, 4096, web=2), host("lab3", 2, 2048, web=1)]


def demands(*apps: str) -> dict[str, Demand]:
    return {a: Demand(REQS[a]) for a in apps}


def test_an_even_cluster_survives_any_single_loss():
    room = headroom(EVEN, demands("web"))
    # per host: min(floor(3 / 0.5), 3072 // 512) = min(6, 6) = 6; 3 hosts -> 18
    assert [(a.app, a.more, a.hosts) for a in room.apps] == [("web", 18, 3)]
    assert room.survives and [(x.host, x.replicas, dict(x.stranded)) for x in room.losses] == [
        ("lab1", 2, {}), ("lab2", 2, {}), ("lab3", 2, {})]
    # cpu: 12 total, 3 reserved, 9 free; losing lab1: 9 - 3 (its free) - 1 (its reserved) = 5 spare
    cpu = room.cpu
    assert (cpu.total, cpu.reserved, cpu.free, cpu.worst_host, cpu.spare_after_worst) == (12, 3, 9, "lab1", 5)
    # memory: 12288 total, 3072 reserved, 9216 free; 9216 - 3072 - 1024 = 5120
    mem = room.memory
    assert (mem.total, mem.reserved, mem.free, mem.worst_host, mem.spare_after_worst) == (
        12288, 3072, 9216, "lab1", 5120)
    assert cpu.survives and mem.survives


def test_a_tight_cluster_names_the_host_whose_loss_strands_big():
    room = headroom(TIGHT, demands("web", "big"))
    # big: lab1 0 free, lab2 3.0 < 3.5, lab3 1.5 < 3.5 -> 0 more, every host rejected by resources
    # web: lab1 0 CPUs free -> 0; lab2 min(3/0.5, 3072//512) = 6; lab3 min(1.5/0.5, 1536//512) = 3 -> 9
    assert [(a.app, a.more, a.hosts, a.limit) for a in room.apps] == [("big", 0, 0, "resources"),
                                                                     ("web", 9, 2, None)]
    assert not room.survives
    losses = {x.host: x for x in room.losses}
    assert dict(losses["lab1"].stranded) == {"big": 1}  # its web replica fits elsewhere
    assert "cpu: needs 3.5 CPUs, 3 free" in losses["lab1"].why["big"]
    assert losses["lab2"].survives and losses["lab3"].survives  # web moves onto lab2/lab3's room
    # Overall CPU says a loss could be held (4.5 free; losing lab1 leaves 4.5 - 0 - 4.0 = 0.5 spare) while
    # placement strands big: the aggregate is necessary, not sufficient. Ties (lab2: 4.5 - 3 - 1 = 0.5) keep lab1.
    assert (room.cpu.free, room.cpu.worst_host, room.cpu.spare_after_worst, room.cpu.survives) == (
        4.5, "lab1", 0.5, True)
    # memory: 7168 free; lab1: 7168 - 2560 - 1536 = 3072, lab2: 7168 - 3072 - 1024 = 3072, lab3: 5120
    assert (room.memory.worst_host, room.memory.spare_after_worst) == ("lab1", 3072)
    result = as_result(room)
    assert not result.survives and result.losses[0].stranded == {"big": 1}
    assert [a.model_dump() for a in as_result(room, visible=lambda a: a == "web").apps] == [
        {"app": "web", "more": 9, "hosts": 2, "limit": None}]
    assert as_result(room, visible=lambda a: a == "web").survives  # big's loss is not the caller's to see


def test_a_short_resource_overall_is_not_survivable():
    hosts = [host("a", 2, 2048, web=4), host("b", 1, 2048, web=1)]
    # cpu: a full (2 of 2), b 0.5 free; losing a: 0.5 - 2 = -1.5
    room = headroom(hosts, demands("web"))
    assert (room.cpu.worst_host, room.cpu.spare_after_worst, room.cpu.survives) == ("a", -1.5, False)
    assert dict(next(x for x in room.losses if x.host == "a").stranded) == {"web": 3}


@pytest.mark.parametrize("snapshot", [EVEN, TIGHT])
@pytest.mark.parametrize("request_", [WEB, BIG, Request("x", cpus=0.1, memory_mb=300),
                                      Request("p", cpus=0.1, ports=(80,))])
def test_more_is_what_the_placer_places(snapshot, request_):
    room = app_room(snapshot, request_)
    assert room.more == len(place(snapshot, request_, 1000).assignments)


def test_an_app_asking_for_nothing_has_no_limit():
    assert fits_on(EVEN[0], Request("free")) is None
    assert app_room(EVEN, Request("free")).more is None


def test_the_html_report_shows_n_minus_1_with_a_chart():
    from paasops.cli.report_html import render
    from paasops.results import Report

    page = render(Report(generated_at=0, headroom=as_result(headroom(TIGHT, demands("web", "big")))))
    assert "not survivable: losing lab1 strands 1 of big" in page
    assert '<rect class="short"' in page and "1 placed, 1 stranded" in page  # lab1: web placed, big stranded
    assert "<td class=n>9</td>" in page  # web: 9 more
    assert "src=" not in page and "href=" not in page  # nothing loaded from elsewhere
    assert "N-1" not in render(Report(generated_at=0))  # a report without headroom shows no section


def test_the_report_table_names_the_loss_that_strands():
    from io import StringIO

    from rich.console import Console

    from paasops.cli.commands.ops import report_view
    from paasops.results import Report

    buffer = StringIO()
    Console(file=buffer, width=200, no_color=True).print(
        report_view(Report(generated_at=0, headroom=as_result(headroom(TIGHT, demands("web", "big"))))))
    text = buffer.getvalue()
    assert "N-1: not survivable" in text and "lab1" in text and "big (1)" in text
    assert "cpu: 4.5 CPUs free of 10 CPUs; losing lab1 (the worst) leaves 0.5 CPUs spare" in text


def brute_force(snapshot, demands_):
    """N-1 by placing every single loss in full (what headroom() skips when a loss surely survives)."""
    from paasops.placement.whatif import lose_each

    return {host: {a.app: a.stranded for a in plan.apps if a.plan is not None and a.stranded}
            for host, plan in lose_each(snapshot, demands_).items()}


@pytest.mark.parametrize("seed", range(40))
def test_the_shortcut_agrees_with_placing_every_loss(seed):
    import random

    from paasops.placement.evacuate import with_plan

    rng = random.Random(seed)
    reqs = [Request(f"a{i}", cpus=rng.choice((0, 0.1, 0.25, 0.5, 1, 2)), memory_mb=rng.choice((0, 64, 256, 1000)),
                    ports=(8000 + i,) if rng.random() < 0.2 else ()) for i in range(rng.randint(1, 5))]
    hosts = [HostSnapshot(id=f"h{i}", total_cpu=rng.choice((1, 2, 4)), total_mem_mb=rng.choice((1024, 2048, 4096)),
                          healthy=rng.random() > 0.1) for i in range(rng.randint(2, 7))]
    ds = {r.app: Demand(r, rng.choice(("thesis", "spread", "binpack"))) for r in reqs}
    for r in reqs:
        hosts = with_plan(hosts, r, place(hosts, r, rng.randint(1, 12), ds[r.app].strategy))
    room = headroom(hosts, ds)
    assert {x.host: dict(x.stranded) for x in room.losses} == brute_force(hosts, ds)


def test_only_doubtful_losses_are_placed():
    assert headroom(EVEN, demands("web")).placed == 0  # room everywhere: no loss placed
    assert headroom(TIGHT, demands("web", "big")).placed >= 1  # lab1's loss strands big: it was placed


def test_the_html_names_units():
    from paasops.cli.report_html import render
    from paasops.results import Report

    page = render(Report(generated_at=0, headroom=as_result(headroom(EVEN, demands("web")))))
    assert "cpu: 9 CPUs free of 12; losing lab1 leaves 5 CPUs spare" in page
    assert "memory: 9216 MB free of 12288; losing lab1 leaves 5120 MB spare" in page
