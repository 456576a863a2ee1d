"""Scorer tables: each case carries its arithmetic; the scorers are pure functions of numbers."""

import pytest

from paasops.errors import UserInputError
from paasops.placement import STRATEGIES, Weights
from paasops.placement.scorers import binpack, get_strategy, spread, thesis

# (reserved_cpu, req_cpu, total_cpu, reserved_mem, req_mem, total_mem, w_cpu, w_mem) -> (cpu, mem)
THESIS = [
    # cpu: (1 - (1.5 + 0.5)/4) * 65 = 32.5;  mem: (1 - (2048 + 1024)/8192) * 35 = 21.875
    ((1.5, 0.5, 4, 2048, 1024, 8192, 65, 35), (32.5, 21.875)),
    # cpu: (1 - (0 + 1)/8) * 65 = 56.875;  mem: (1 - (0 + 1024)/8192) * 35 = 30.625
    ((0, 1, 8, 0, 1024, 8192, 65, 35), (56.875, 30.625)),
    # a full host scores 0: cpu (1 - (3 + 1)/4) * 65 = 0;  mem (1 - (3072 + 1024)/4096) * 35 = 0
    ((3, 1, 4, 3072, 1024, 4096, 65, 35), (0.0, 0.0)),
    # empty host, empty request: cpu (1 - 0/2) * 65 = 65;  mem (1 - 0/1024) * 35 = 35
    ((0, 0, 2, 0, 0, 1024, 65, 35), (65.0, 35.0)),
    # weights 50/50: cpu (1 - (1 + 1)/4) * 50 = 25;  mem (1 - (0 + 512)/2048) * 50 = 37.5
    ((1, 1, 4, 0, 512, 2048, 50, 50), (25.0, 37.5)),
    # memory only: cpu (1 - (1 + 1)/4) * 0 = 0;  mem (1 - (1024 + 1024)/4096) * 1 = 0.5
    ((1, 1, 4, 1024, 1024, 4096, 0, 1), (0.0, 0.5)),
    # a host declaring no CPU or memory contributes no term instead of dividing by zero
    ((0, 0, 0, 0, 0, 0, 65, 35), (0.0, 0.0)),
]

BINPACK = [
    # cpu: (1.5 + 0.5)/4 * 65 = 32.5;  mem: (2048 + 1024)/8192 * 35 = 13.125
    ((1.5, 0.5, 4, 2048, 1024, 8192, 65, 35), (32.5, 13.125)),
    # cpu: (0 + 1)/8 * 65 = 8.125;  mem: (0 + 1024)/8192 * 35 = 4.375
    ((0, 1, 8, 0, 1024, 8192, 65, 35), (8.125, 4.375)),
    # full: cpu (3 + 1)/4 * 65 = 65;  mem (3072 + 1024)/4096 * 35 = 35
    ((3, 1, 4, 3072, 1024, 4096, 65, 35), (65.0, 35.0)),
    # weights 50/50: cpu (1 + 1)/4 * 50 = 25;  mem (0 + 512)/2048 * 50 = 12.5
    ((1, 1, 4, 0, 512, 2048, 50, 50), (25.0, 12.5)),
]


@pytest.mark.parametrize("args, expected", THESIS)
def test_thesis_terms(args, expected):
    assert thesis.terms(*args) == pytest.approx(expected)


@pytest.mark.parametrize("args, expected", BINPACK)
def test_binpack_terms(args, expected):
    assert binpack.terms(*args) == pytest.approx(expected)


def test_spread_scores_with_the_thesis_formula():
    assert spread.terms is thesis.terms


@pytest.mark.parametrize(
    "scorer, a, b",
    [
        # higher score wins: 80 beats 60
        (thesis, (80.0, 5, "b", 1), (60.0, 0, "a", 0)),
        # equal score: the lower host id wins
        (thesis, (50.0, 0, "node1", 1), (50.0, 0, "node2", 0)),
        (binpack, (90.0, 0, "z", 1), (10.0, 0, "a", 0)),
        # spread: fewer replicas of the app beats a higher score (1 replica at 10 beats 2 at 90)
        (spread, (10.0, 1, "z", 1), (90.0, 2, "a", 0)),
        # spread: equal replicas, the thesis score decides (70 beats 60)
        (spread, (70.0, 1, "z", 1), (60.0, 1, "a", 0)),
        # spread: equal replicas and score, the lower host id wins
        (spread, (60.0, 1, "a", 1), (60.0, 1, "b", 0)),
    ],
)
def test_rank_key_orders_winner_first(scorer, a, b):
    assert scorer.rank_key(*a) < scorer.rank_key(*b)


def test_strategies_registry():
    assert list(STRATEGIES) == ["thesis", "spread", "binpack"]
    assert get_strategy("spread") is spread
    with pytest.raises(UserInputError, match="unknown placement strategy 'random'"):
        get_strategy("random")


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, (65.0, 35.0)),
        ((50, 50), (50, 50)),
        ({"cpu": 1}, (1, 35.0)),
        (Weights(10, 90), (10, 90)),
    ],
)
def test_weights_of(value, expected):
    w = Weights.of(value)
    assert (w.cpu, w.memory) == expected


@pytest.mark.parametrize("value", [(-1, 35), (0, 0), (1, 2, 3), {"disk": 3}, (float("nan"), 1)])
def test_bad_weights(value):
    with pytest.raises(UserInputError, match="weight"):
        Weights.of(value)
