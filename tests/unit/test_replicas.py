"""Replica numbers, labels, the placement request and the scale-down victims (pure, no engine)."""

from __future__ import annotations

import pytest

from paasops.placement import Request
from paasops.service.containers import ContainerView
from paasops.service.replicas import (
    free_indexes,
    replica_index,
    replica_labels,
    request_for,
    scale_down_victims,
)
from paasops.spec import parse_app_spec, spec_hash
from paasops.vocabulary import LABEL_REPLICA

SPEC = parse_app_spec({"name": "web", "image": "hello", "cpus": 0.5, "memory": "128m",
                       "ports": ["8080:80", "0:81", "9090:90/udp"], "constraints": ["zone==a"]})


def ctr(id_: str, index: str | None, on: str = "a") -> ContainerView:
    labels = {"paasops.app": "web"} | ({LABEL_REPLICA: index} if index is not None else {})
    return ContainerView(id=id_, name=id_, engine_id=on, image="img", state="running", labels=labels)


@pytest.mark.parametrize("label, index", [("3", 3), (None, 0), ("x", 0), ("12", 12)])
def test_replica_index_reads_the_label_and_falls_back_to_0(label, index):
    assert replica_index(ctr("c", label)) == index


@pytest.mark.parametrize("taken, count, expected", [
    ([], 3, [1, 2, 3]),
    ([1, 2, 3], 2, [4, 5]),
    ([2, 4], 3, [1, 3, 5]),  # the holes first, then after the highest
    ([0, 1], 1, [2]),  # 0 (no label) never blocks a number
    ([5], 0, []),
])
def test_free_indexes_fill_holes_first(taken, count, expected):
    assert free_indexes(taken, count) == expected


def test_replica_labels_carry_the_app_its_number_and_reservation():
    assert replica_labels(SPEC, "d1", 4) == {
        "paasops.app": "web", "paasops.deployment": "d1", "paasops.spec-hash": spec_hash(SPEC),
        "paasops.replica": "4", "paasops.cpus": "0.5", "paasops.memory-mb": "128",
        "paasops.host-ports": "8080,9090",  # fixed host ports only: 0 is the engine's pick
    }


def test_request_for_asks_what_one_replica_needs():
    assert request_for(SPEC) == Request("web", cpus=0.5, memory_mb=128, ports=(8080, 9090), constraints=("zone==a",))


def test_scale_down_victims_take_the_highest_number_on_each_named_host():
    current = [ctr("a1", "1"), ctr("a3", "3"), ctr("a2", "2"), ctr("b4", "4", on="b"), ctr("b5", "5", on="b")]
    victims = scale_down_victims(current, ["a", "b", "a"])
    assert [v.id for v in victims] == ["a3", "b5", "a2"]


def test_scale_down_victims_refuse_a_host_without_replicas_left():
    with pytest.raises(ValueError, match="no replica left on b"):
        scale_down_victims([ctr("a1", "1"), ctr("b1", "1", on="b")], ["b", "b"])
