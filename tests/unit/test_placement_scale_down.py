"""scale_down_order: replicas leave the most loaded hosts first, one at a time, deterministically."""

import pytest

from paasops.errors import UserInputError
from paasops.placement import HostSnapshot, scale_down_order
from paasops.placement.scale_down import load


@pytest.mark.parametrize(
    "args, expected",
    [
        # (2/4 * 65 + 4096/8192 * 35) / 100 = 0.5
        ((2, 4, 4096, 8192, 65, 35), 0.5),
        # (3/4 * 65 + 2048/8192 * 35) / 100 = (48.75 + 8.75) / 100 = 0.575
        ((3, 4, 2048, 8192, 65, 35), 0.575),
        # (1/4 * 65 + 6144/8192 * 35) / 100 = (16.25 + 26.25) / 100 = 0.425
        ((1, 4, 6144, 8192, 65, 35), 0.425),
        # memory only: 6144/8192 = 0.75
        ((1, 4, 6144, 8192, 0, 1), 0.75),
        # no declared capacity counts as unloaded
        ((1, 0, 1, 0, 65, 35), 0.0),
    ],
)
def test_load(args, expected):
    assert load(*args) == pytest.approx(expected)


HOSTS = [
    # load (3/4 * 65 + 2048/8192 * 35) / 100 = 0.575
    HostSnapshot(id="cpu-heavy", total_cpu=4, total_mem_mb=8192, reserved_cpu=3, reserved_mem_mb=2048,
                 replicas={"web": 2}),
    # load (1/4 * 65 + 6144/8192 * 35) / 100 = 0.425
    HostSnapshot(id="mem-heavy", total_cpu=4, total_mem_mb=8192, reserved_cpu=1, reserved_mem_mb=6144,
                 replicas={"web": 3}),
    # load (2/4 * 65 + 4096/8192 * 35) / 100 = 0.5
    HostSnapshot(id="middle", total_cpu=4, total_mem_mb=8192, reserved_cpu=2, reserved_mem_mb=4096,
                 replicas={"web": 1, "db": 1}),
    # the most loaded host, but no web replica
    HostSnapshot(id="full", total_cpu=4, total_mem_mb=8192, reserved_cpu=4, reserved_mem_mb=8192,
                 replicas={"db": 4}),
]


def test_most_loaded_first_with_freed_resources():
    order = scale_down_order(HOSTS, "web", 6, cpus=1, memory_mb=1024)
    # 1 cpu-heavy 0.575 -> (2/4 * 65 + 1024/8192 * 35) / 100 = 0.36875
    # 2 middle 0.5 -> its only web replica is gone
    # 3 mem-heavy 0.425 -> (0/4 * 65 + 5120/8192 * 35) / 100 = 0.21875
    # 4 cpu-heavy 0.36875 -> its last web replica
    # 5, 6 mem-heavy: the only host left with web replicas
    assert order == ["cpu-heavy", "middle", "mem-heavy", "cpu-heavy", "mem-heavy", "mem-heavy"]


def test_at_most_the_replicas_that_exist():
    assert len(scale_down_order(HOSTS, "web", 100, cpus=1, memory_mb=1024)) == 6
    assert scale_down_order(HOSTS, "nothing", 3) == []
    assert scale_down_order(HOSTS, "web", 0) == []


def test_without_resources_the_most_loaded_host_empties_first():
    assert scale_down_order(HOSTS, "web", 4) == ["cpu-heavy", "cpu-heavy", "middle", "mem-heavy"]


def test_ties_prefer_more_replicas_then_lower_id():
    same = dict(total_cpu=4, total_mem_mb=4096, reserved_cpu=2, reserved_mem_mb=2048)
    hosts = [
        HostSnapshot(id="b", replicas={"web": 1}, **same),
        HostSnapshot(id="c", replicas={"web": 2}, **same),
        HostSnapshot(id="a", replicas={"web": 1}, **same),
    ]
    # equal loads: c has the most replicas; then all have 1 and the ids decide
    assert scale_down_order(hosts, "web", 4) == ["c", "a", "b", "c"]


def test_weights_change_the_order():
    # memory only: mem-heavy 6144/8192 = 0.75 beats middle 0.5 and cpu-heavy 0.25
    assert scale_down_order(HOSTS, "web", 1, weights=(0, 1)) == ["mem-heavy"]


def test_negative_count_is_rejected():
    with pytest.raises(UserInputError):
        scale_down_order(HOSTS, "web", -1)
