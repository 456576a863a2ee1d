"""The rolling update's policy (app.yml `update:`) and its pure plan: batches, ready capacity, failure ratio."""

from __future__ import annotations

import pytest

from paasops.errors import SpecError
from paasops.health_check import HealthCheck
from paasops.rollout_plan import (
    OldReplica,
    capacity_steps,
    plan_batches,
    ready_floor,
    replacement_order,
    too_many_failures,
)
from paasops.spec import parse_app_spec, spec_hash
from paasops.spec_diff import spec_diff
from paasops.update_policy import UpdatePolicy


def policy(**kw) -> UpdatePolicy:
    return parse_app_spec({"name": "web", "image": "nginx", "update": kw}).update


def olds(n: int, unready: tuple[int, ...] = ()) -> list[OldReplica]:
    return [OldReplica(f"c{i}", i, ready=i not in unready) for i in range(1, n + 1)]


# -- the policy --------------------------------------------------------------------------------
def test_the_defaults_are_one_at_a_time_start_first_with_rollback():
    p = policy()
    assert (p.parallelism, p.order, p.unavailable, p.monitor, p.failure_action, p.max_failure_ratio) == \
        (1, "start-first", 0, "5s", "rollback", 0.0)
    assert policy(order="stop-first", parallelism=3).unavailable == 3  # stop-first takes a batch down


@pytest.mark.parametrize("update, message", [
    ({"parallelism": 0}, "update.parallelism: must be >= 1, got 0"),
    ({"order": "random"}, "update.order: must be one of 'start-first' or 'stop-first', got 'random'"),
    ({"monitor": "soon"}, "update.monitor: must be a duration like '2s' or '500ms', got 'soon'"),
    ({"monitor": "2h"}, "update.monitor: must be between 0s and 1h, got '2h'"),
    ({"ready_timeout": "10ms"}, "update.ready_timeout: must be between 1s and 1h, got '10ms'"),
    ({"failure_action": "retry"}, "update.failure_action: must be one of 'rollback' or 'pause', got 'retry'"),
    ({"max_failure_ratio": 1.5}, "update.max_failure_ratio: must be <= 1, got 1.5"),
    ({"max_failure_ratio": "half"}, "update.max_failure_ratio: must be a number between 0 and 1"),
    ({"max_unavailable": -1}, "update.max_unavailable: must be >= 0, got -1"),
    ({"parallelism": 2, "order": "stop-first", "max_unavailable": 1},
     "update: max_unavailable: stop-first takes 2 replica(s) down per batch (parallelism), so it needs "
     "max_unavailable >= 2, got 1"),
    ({"paralelism": 2}, "update: unknown field 'paralelism' (did you mean 'parallelism'?)"),
    ("fast", "update: must be a mapping, got 'fast'"),
])
def test_a_bad_update_policy_names_its_field(update, message):
    with pytest.raises(SpecError, match="^app.yml: ") as err:
        parse_app_spec({"name": "web", "image": "nginx", "update": update})
    assert message in str(err.value)


def test_durations_are_kept_normalised():
    p = policy(monitor=90, ready_timeout="1500ms")
    assert (p.monitor, p.ready_timeout, p.monitor_s) == ("90s", "1500ms", 90.0)
    assert policy(monitor="1m").monitor == "1m" and policy(monitor=0).monitor_s == 0


def test_the_ready_deadline_follows_the_health_check():
    check = HealthCheck(http="/up", interval="1s", timeout="2s", retries=3, start_period="4s")
    # start_period 4 s + (interval 1 s + timeout 2 s) * (3 retries + 1) = 16 s, + 10 s slack
    assert policy().ready_seconds(check) == 26.0
    assert policy().ready_seconds(None) == 30.0  # no check: ready once running; bounds a restart loop
    assert policy(ready_timeout="45s").ready_seconds(check) == 45.0


def test_update_is_no_release_field():
    base = {"name": "web", "image": "nginx"}
    a, b = parse_app_spec(base), parse_app_spec({**base, "update": {"parallelism": 4, "order": "stop-first"}})
    assert spec_hash(a) == spec_hash(b) and spec_diff(a, b) == []
    assert b.stored()["update"]["parallelism"] == 4  # the record keeps it all the same


# -- the plan ----------------------------------------------------------------------------------
def test_batches_of_parallelism_replace_the_lowest_numbers_first():
    batches = plan_batches(reversed(olds(5)), 5, policy(parallelism=2))
    assert [(b.number, b.start, b.stop) for b in batches] == [
        (1, 2, ("c1", "c2")), (2, 2, ("c3", "c4")), (3, 1, ("c5",))]


def test_replicas_that_serve_nothing_go_first():
    assert [r.id for r in replacement_order(olds(4, unready=(3,)))] == ["c3", "c1", "c2", "c4"]


@pytest.mark.parametrize("old, count, parallelism, expected", [
    # more new replicas than old: the last batches only start (ceil(5 / 2) = 3 batches)
    (2, 5, 2, [(2, ("c1", "c2")), (2, ()), (1, ())]),
    # fewer: the last batches only remove (ceil(4 / 3) = 2 batches)
    (4, 1, 3, [(1, ("c1", "c2", "c3")), (0, ("c4",))]),
    (3, 0, 1, [(0, ("c1",)), (0, ("c2",)), (0, ("c3",))]),
    (0, 2, 1, [(1, ()), (1, ())]),
])
def test_a_count_that_changes_is_spread_over_the_batches(old, count, parallelism, expected):
    batches = plan_batches(olds(old), count, policy(parallelism=parallelism))
    assert [(b.start, b.stop) for b in batches] == expected
    assert sum(b.start for b in batches) == count and sum(len(b.stop) for b in batches) == old


@pytest.mark.parametrize("kw", [
    {}, {"parallelism": 2}, {"parallelism": 6}, {"order": "stop-first"},
    {"order": "stop-first", "parallelism": 2}, {"order": "stop-first", "parallelism": 2, "max_unavailable": 3},
])
@pytest.mark.parametrize("old, count", [(6, 6), (6, 4), (3, 6), (1, 1)])
def test_ready_capacity_never_drops_below_count_minus_max_unavailable(kw, old, count):
    p = policy(**kw)
    replicas = olds(old)
    steps = capacity_steps(replicas, plan_batches(replicas, count, p), p)
    assert min(steps) >= ready_floor(replicas, count, p)
    assert steps[-1] == count  # every old replica replaced, every new one serving


def test_capacity_arithmetic_of_start_first_and_stop_first():
    replicas = olds(3)
    # start-first, 1 at a time: 3 -> +1 new = 4 -> -1 old = 3, three times
    p = policy()
    assert capacity_steps(replicas, plan_batches(replicas, 3, p), p) == [3, 4, 3, 4, 3, 4, 3]
    # stop-first, 2 at a time: 3 -> -2 = 1 -> +2 = 3 -> -1 = 2 -> +1 = 3; the floor is 3 - 2 = 1
    p = policy(order="stop-first", parallelism=2)
    assert capacity_steps(replicas, plan_batches(replicas, 3, p), p) == [3, 1, 3, 2, 3]
    assert ready_floor(replicas, 3, p) == 1


def test_an_unready_old_replica_is_replaced_without_losing_capacity():
    replicas = olds(3, unready=(2,))
    p = policy(order="stop-first")  # it goes first: removing it costs nothing
    steps = capacity_steps(replicas, plan_batches(replicas, 3, p), p)
    assert steps[:3] == [2, 2, 3] and min(steps) >= ready_floor(replicas, 3, p) == 1


@pytest.mark.parametrize("failed, count, ratio, too_many", [
    (0, 6, 0.0, False), (1, 6, 0.0, True),  # the default: any failure
    (1, 6, 0.2, False), (2, 6, 0.2, True),  # 0.2 * 6 = 1.2 may fail
    (6, 6, 1.0, False),
])
def test_the_failure_ratio(failed, count, ratio, too_many):
    assert too_many_failures(failed, count, policy(max_failure_ratio=ratio)) is too_many
