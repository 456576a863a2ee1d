"""Self-healing decisions (no I/O): reschedule_after gating in the diff, the disruption budget, unhealthy clocks."""

from __future__ import annotations

import pytest

from paasops.placement import HostSnapshot
from paasops.service.containers import ContainerView
from paasops.service.heal_plan import DisruptionBudget, deferral_key, gate, owns, unhealthy_clock
from paasops.service.reconcile import Change, Timeline, diff
from paasops.store.records import App

NOW = 10_000.0
# web: 4 replicas, rescheduled 10 s after its host stops being up
WEB = App("web", {"image": "hello", "reschedule_after": "10s"}, count=4, deployment_id="d1", spec_hash="h-web")
OLD = App("old", {"image": "old"}, count=1, deployment_id="d2", spec_hash="h-old")  # no field: the default 30 s


def host(id_: str, up: bool = True) -> HostSnapshot:
    return HostSnapshot(id=id_, total_cpu=4, total_mem_mb=8192, healthy=up, status="up" if up else "suspect")


def ctr(id_: str, index: int, on: str, *, app: str = "web", created: float = NOW - 600,
        status: str = "Up 10 minutes") -> ContainerView:
    return ContainerView(id=id_, name=f"{app}-{index}", engine_id=on, image="img", state="running", status=status,
                         created=created, labels={"paasops.app": app, "paasops.spec-hash": f"h-{app}",
                                                  "paasops.replica": str(index)})


# web-1, web-3 on a; web-2, web-4 on c (the host that is cut)
RUNNING = [ctr("a1", 1, "a"), ctr("c2", 2, "c"), ctr("a3", 3, "a"), ctr("c4", 4, "c")]
CUT = [host("a"), host("b"), host("c", up=False)]


def plan_at(lost_for: float, observed=RUNNING, apps=(WEB,), **timeline):
    return diff(list(apps), observed, CUT, now=NOW, timeline=Timeline(lost_since={"c": NOW - lost_for}, **timeline))


@pytest.mark.parametrize("lost_for, creates", [
    (0.0, []),  # suspect this instant: its replicas still count
    (9.9, []),  # within reschedule_after (10 s)
    (10.0, [(2, (2, 4))]),  # due: re-created elsewhere under their own numbers
    (300.0, [(2, (2, 4))]),
])
def test_a_lost_hosts_replicas_count_until_reschedule_after(lost_for, creates):
    plan = plan_at(lost_for)
    assert [(a.count, a.indexes) for a in plan.actions if a.kind == "create"] == creates
    assert not [a for a in plan.actions if a.kind == "destroy"]  # nothing on the lost host is touched
    assert plan.unreachable == ["c2", "c4"]
    assert plan.wake_at == (NOW - lost_for + 10 if lost_for < 10 else None)


def test_a_lost_host_absent_from_the_timeline_is_rescheduled_at_once():
    plan = diff([WEB], RUNNING, CUT, now=NOW)  # no timeline: reconcile's behaviour before self-healing
    assert [(a.count, a.indexes) for a in plan.actions] == [(2, (2, 4))]


def test_reschedule_after_is_per_app_and_defaults_to_30s():
    observed = [*RUNNING, ctr("c9", 1, "c", app="old")]
    plan = plan_at(20.0, observed, apps=(WEB, OLD))
    assert [(a.app, a.count) for a in plan.actions] == [("web", 2)]  # old waits 10 s more
    assert plan.wake_at == NOW + 10


def test_when_the_host_returns_its_copies_go_first_and_the_count_is_exact():
    back = NOW - 5  # c came back 5 s ago; its copies were created long before, their replacements after
    observed = [*RUNNING, ctr("b2", 2, "b", created=NOW - 60), ctr("b4", 4, "b", created=NOW - 60)]
    plan = diff([WEB], observed, [host("a"), host("b"), host("c")], now=NOW,
                timeline=Timeline(back_since={"a": NOW - 9000, "b": NOW - 9000, "c": back}))
    assert [(a.kind, a.reason, a.container) for a in plan.actions] == [
        ("destroy", "duplicate", "c2"), ("destroy", "duplicate", "c4")]
    assert "while it was away" in plan.actions[0].detail


def test_a_returning_ready_copy_is_kept_over_a_replacement_not_ready_yet():
    observed = [*RUNNING, ctr("b2", 2, "b", created=NOW - 60, status="Up 1 minute (health: starting)")]
    plan = diff([WEB], observed, [host("a"), host("b"), host("c")], now=NOW,
                timeline=Timeline(back_since={"c": NOW - 5}))
    assert [a.container for a in plan.actions] == ["b2"]  # never below the ready count


def test_an_unhealthy_replica_past_its_grace_is_replaced_new_first():
    sick = ctr("a3", 3, "a", status="Up 5 minutes (unhealthy)")
    observed = [ctr("a1", 1, "a"), ctr("b2", 2, "b"), sick, ctr("b4", 4, "b")]
    hosts = [host("a"), host("b")]
    early = diff([WEB], observed, hosts, now=NOW,
                 timeline=Timeline(unhealthy_since={"a3": NOW - 4}, unhealthy_grace=10))
    assert early.actions == [] and early.wake_at == NOW + 6
    plan = diff([WEB], observed, hosts, now=NOW,
                timeline=Timeline(unhealthy_since={"a3": NOW - 12}, unhealthy_grace=10))
    assert [(a.kind, a.reason, a.indexes, a.container) for a in plan.actions] == [
        ("create", "missing", (5,), ""), ("destroy", "unhealthy", (), "a3")]  # its number is taken still
    never = diff([WEB], observed, hosts, now=NOW, timeline=Timeline(unhealthy_since={"a3": NOW - 999}))
    assert never.actions == []  # reconcile (no grace given) leaves unhealthy replicas to the supervisor


def test_a_dead_replicas_number_is_reused():
    dead = ContainerView(id="x3", name="web-3", engine_id="a", image="img", state="exited",
                         labels={"paasops.app": "web", "paasops.spec-hash": "h-web", "paasops.replica": "3"})
    observed = [ctr("a1", 1, "a"), ctr("b2", 2, "b"), dead, ctr("b4", 4, "b")]
    plan = diff([WEB], observed, [host("a"), host("b")], now=NOW, timeline=Timeline())
    assert [(a.kind, a.reason, a.indexes) for a in plan.actions] == [("destroy", "dead", ()),
                                                                    ("create", "missing", (3,))]


# -- the disruption budget --------------------------------------------------------------------
def create(app: str, *indexes: int) -> Change:
    return Change("create", app, "missing", count=len(indexes), indexes=indexes)


def test_the_budget_is_a_sliding_window():
    budget = DisruptionBudget(lambda app: 3, window=60)
    assert budget.left("web", 0) == 3
    budget.spend("web", 2, 0)
    budget.spend("web", 1, 30)
    assert budget.left("web", 59.9) == 0 and budget.free_at("web", 59.9) == 60
    assert budget.left("web", 60) == 2  # the two spent at 0 are back; the one at 30 is not
    assert budget.left("db", 60) == 3 and budget.free_at("db", 60) is None


def test_gate_cuts_a_create_to_the_budget_and_defers_the_rest():
    budget = DisruptionBudget(lambda app: 2)
    sick = Change("destroy", "web", "unhealthy", container="s1")
    dup = Change("destroy", "web", "duplicate", container="d1")
    gated = gate([create("web", 2, 4, 6), sick, dup], budget, now=0)
    assert [(a.kind, a.count, a.indexes, a.container) for a in gated.allowed] == [
        ("create", 2, (2, 4), ""), ("destroy", 0, (), "d1")]  # surplus never waits for the budget
    assert [(a.kind, a.count, a.indexes, a.container) for a in gated.deferred] == [
        ("create", 1, (6,), ""), ("destroy", 0, (), "s1")]  # its replacement waits: the sick one stays
    again = gate([create("web", 6)], budget, now=30)
    assert again.allowed == [] and len(again.deferred) == 1
    assert deferral_key(again.deferred) == {"web": (("create", "missing", 1, ""),)}
    assert [a.indexes for a in gate([create("web", 6)], budget, now=60).allowed] == [(6,)]


def test_the_unhealthy_clock_starts_at_first_sight_and_stops_when_healthy():
    sick = ctr("s", 1, "a", status="Up (unhealthy)")
    well = ctr("w", 2, "a", status="Up (healthy)")
    first = unhealthy_clock({}, [sick, well], now=5)
    assert first == {"s": 5}
    assert unhealthy_clock(first, [sick, well], now=9) == {"s": 5}
    assert unhealthy_clock(first, [ctr("s", 1, "a", status="Up (healthy)")], now=9) == {}


def test_the_supervisor_leaves_orphans_and_other_releases_dead_replicas_to_reconcile():
    mine = ctr("m", 1, "a")
    by_hand = ContainerView(id="h", name="x", engine_id="a", image="img", state="exited", labels={"paasops.app": "web"})
    views, records = {"m": mine, "h": by_hand}, {"web": WEB}
    assert owns(Change("destroy", "web", "dead", container="m"), views, records)
    assert not owns(Change("destroy", "web", "dead", container="h"), views, records)
    assert not owns(Change("destroy", "web", "orphan", container="h"), views, records)
    assert owns(create("web", 1), views, records)
    assert owns(Change("destroy", "web", "duplicate", container="m"), views, records)


def test_a_replica_stopped_on_purpose_counts_and_is_left_stopped():
    stopped = ContainerView(id="x3", name="web-3", engine_id="a", image="img", state="exited",
                            labels={"paasops.app": "web", "paasops.spec-hash": "h-web", "paasops.replica": "3"})
    observed = [ctr("a1", 1, "a"), ctr("b2", 2, "b"), stopped, ctr("b4", 4, "b")]
    plan = diff([WEB], observed, [host("a"), host("b")], now=NOW, timeline=Timeline(stopped={"x3"}))
    assert plan.actions == []
