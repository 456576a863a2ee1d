"""`serve --rebalance-every/--rebalance-budget`: the schedule's flags become settings; a budget out of range is
one message naming the flag (nothing starts)."""

from __future__ import annotations

import pytest

from paasops.cli.commands.serve import serve_settings
from paasops.errors import UserInputError


def test_flags_set_the_schedule_and_absent_ones_leave_it_off(monkeypatch):
    monkeypatch.delenv("PAASOPS_REBALANCE_EVERY", raising=False)
    monkeypatch.delenv("PAASOPS_REBALANCE_BUDGET", raising=False)
    off = serve_settings(rebalance_every=None, rebalance_budget=None)
    assert (off.rebalance_every, off.rebalance_budget) == (0.0, 1)
    on = serve_settings(rebalance_every=600.0, rebalance_budget=3)
    assert (on.rebalance_every, on.rebalance_budget) == (600.0, 3)


@pytest.mark.parametrize("flags,named", [({"rebalance_budget": 0}, "--rebalance-budget"),
                                         ({"rebalance_budget": 1001}, "--rebalance-budget"),
                                         ({"rebalance_every": -1.0}, "--rebalance-every")])
def test_out_of_range_is_refused_naming_the_flag(flags, named):
    with pytest.raises(UserInputError) as caught:
        serve_settings(**flags)
    assert named in str(caught.value)
