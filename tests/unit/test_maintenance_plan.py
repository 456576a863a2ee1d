"""`paasops patch`'s pure part: host order and batches, bad input, the stop rule, when a host counts as healthy
again, the report's bookkeeping and message, and the --check plan built from what-if drains."""

from __future__ import annotations

import pytest

from paasops.errors import UserInputError
from paasops.maintenance_plan import (
    PatchReport,
    PlaybookChange,
    batches,
    check_max_fail,
    check_targets,
    failure_line,
    healthy_since,
    patch_plan,
    settled,
    should_stop,
)
from paasops.results import WhatIfApp, WhatIfMove, WhatIfPlan


def test_batches_keep_inventory_order_each_host_once_serial_at_a_time():
    assert batches(["lab1", "lab2", "lab3"], 1) == [["lab1"], ["lab2"], ["lab3"]]
    assert batches(["lab1", "lab2", "lab1", "lab3"], 2) == [["lab1", "lab2"], ["lab3"]]
    assert batches(["a", "b"], 5) == [["a", "b"]]


@pytest.mark.parametrize("serial", [0, -1])
def test_a_serial_below_one_is_refused_naming_the_flag(serial):
    with pytest.raises(UserInputError, match="--serial must be 1 or more"):
        batches(["lab1"], serial)


def test_a_negative_max_fail_is_refused():
    check_max_fail(0)
    with pytest.raises(UserInputError, match="--max-fail"):
        check_max_fail(-1)


def test_every_host_must_be_an_engine_of_the_service():
    check_targets(["lab1", "lab2"], {"lab1": "up", "lab2": "down", "lab3": "up"})
    with pytest.raises(UserInputError, match=r"not known to the service: lab9, lab8 \(its engines: lab1, lab2\)"):
        check_targets(["lab1", "lab9", "lab8"], {"lab2": "up", "lab1": "up"})


@pytest.mark.parametrize(("failures", "max_fail", "stop"), [
    (0, 0, False), (1, 0, True),  # the default: the first failure stops
    (1, 1, False), (2, 1, True),
])
def test_the_run_stops_once_more_hosts_failed_than_allowed(failures, max_fail, stop):
    assert should_stop(failures, max_fail) is stop


def test_healthy_means_up_in_every_sample_of_the_settle_window():
    steady = [(0.0, "up"), (1.0, "up"), (2.9, "up")]
    assert healthy_since(steady) == 0.0
    assert not settled(steady, 2.9, 3.0)  # up, but not for 3 s yet
    assert settled(steady + [(3.0, "up")], 3.0, 3.0)
    blip = [(0.0, "up"), (1.0, "degraded"), (2.0, "up"), (4.0, "up")]  # dockerd restarting: the run starts again
    assert healthy_since(blip) == 2.0 and not settled(blip, 4.0, 3.0) and settled(blip + [(5.0, "up")], 5.0, 3.0)
    assert not settled([(0.0, "up"), (9.0, "suspect")], 9.0, 3.0)  # registration lapsed: not healthy
    assert healthy_since([]) is None and not settled([], 10.0, 0.0)


def test_the_report_follows_each_host_and_says_where_it_stopped():
    report = PatchReport.start("upgrade.yml", [["lab1"], ["lab2"], ["lab3"]], serial=1, max_fail=0)
    assert [(h.host, h.batch, h.status) for h in report.hosts] == [("lab1", 1, "pending"), ("lab2", 2, "pending"),
                                                                  ("lab3", 3, "pending")]
    for step, seconds in (("drain", 4.0), ("play", 2.5), ("wait", 3.0), ("undrain", 0.1)):
        report.begin("lab1", step)
        assert report.host("lab1").status == "running" and report.host("lab1").drained
        report.finish_step("lab1", step, seconds)
    lab1 = report.host("lab1")
    assert (lab1.status, lab1.step, lab1.drained) == ("done", None, False)
    assert lab1.seconds == {"drain": 4.0, "play": 2.5, "wait": 3.0, "undrain": 0.1}
    assert not report.should_stop()

    report.begin("lab2", "drain")
    report.finish_step("lab2", "drain", 1.0)
    report.begin("lab2", "play")
    report.fail("lab2", "play", "command 'false' exited 1: boom", task="Upgrade packages")
    assert report.should_stop()
    report.stop()
    assert [h.status for h in report.hosts] == ["done", "failed", "untouched"] and report.stopped and not report.ok
    assert report.conclude() == ("1 of 3 host(s) patched; lab2 failed at play (task 'Upgrade packages'): "
                                 "command 'false' exited 1: boom — left drained; stopped: not touched: lab3")


def test_a_refused_drain_says_the_host_was_not_drained():
    report = PatchReport.start("p.yml", [["lab1"]], serial=1, max_fail=0)
    report.begin("lab1", "drain")
    report.fail("lab1", "drain", "cannot drain lab1: big does not fit", drained=False)
    assert failure_line(report.host("lab1")) == "lab1 failed at drain: cannot drain lab1: big does not fit — not drained"


def test_with_max_fail_the_run_goes_on_past_a_failure_and_all_done_is_ok():
    report = PatchReport.start("p.yml", [["a", "b"]], serial=2, max_fail=1)
    report.fail("a", "wait", "not healthy")
    assert not report.should_stop()
    ok = PatchReport.start("p.yml", [["a"]], serial=1, max_fail=0)
    ok.finish_step("a", "undrain", 0.1)
    assert ok.ok and ok.conclude() == "1 of 1 host(s) patched"


def move(from_host: str, to: str, score: float = 50.0) -> WhatIfMove:
    return WhatIfMove(replica=0, from_host=from_host, host=to, score=score, cpu=0, memory=0)


def test_the_plan_lists_each_hosts_moves_the_playbooks_changes_and_what_would_refuse_a_drain():
    first = WhatIfPlan(drain=["lab1", "lab2"], apps=[
        WhatIfApp(app="web", kind="moved", count=3, placed=3, moves=[move("lab1", "lab3"), move("lab2", "lab3"),
                                                                      move("lab1", "lab3")])])
    second = WhatIfPlan(drain=["lab3"], apps=[
        WhatIfApp(app="big", kind="moved", count=1, placed=0, stranded=1, why="memory: needs 4000 MB")])
    changes = {"lab1": [PlaybookChange(task="apt upgrade", status="changed")],
               "lab3": [PlaybookChange(task="restart docker", status="failed", message="boom")]}
    plan = patch_plan("upgrade.yml", 2, [["lab1", "lab2"], ["lab3"]], [first, second], changes)
    assert [(h.host, h.batch, [(m.app, m.to_host) for m in h.moves]) for h in plan.hosts] == [
        ("lab1", 1, [("web", "lab3"), ("web", "lab3")]), ("lab2", 1, [("web", "lab3")]), ("lab3", 2, [])]
    assert plan.hosts[2].stranded == ["big: 1 replica(s) would not fit: memory: needs 4000 MB"]
    assert plan.hosts[0].changes[0].task == "apt upgrade" and plan.hosts[1].changes == []
    assert not plan.ok
    assert plan.message == ("3 host(s) in 2 batch(es) of 2; 3 replica(s) would move; the drain of the batch of lab3 "
                            "would be refused (replicas would not fit); the playbook fails in check mode on lab3")
    fine = patch_plan("upgrade.yml", 1, [["lab1"]], [WhatIfPlan(drain=["lab1"])], {})
    assert fine.ok and fine.message == "1 host(s) in 1 batch(es) of 1; 0 replica(s) would move"
