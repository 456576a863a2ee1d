"""Scoring strategies: each is a pure `terms` function (CPU and memory terms) plus a `rank_key`."""

from __future__ import annotations

from types import ModuleType

from paasops.errors import UserInputError
from paasops.placement.scorers import binpack, spread, thesis

STRATEGIES: dict[str, ModuleType] = {m.NAME: m for m in (thesis, spread, binpack)}


def get_strategy(name: str) -> ModuleType:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise UserInputError(
            f"unknown placement strategy {name!r}; expected one of {', '.join(STRATEGIES)}", where="strategy"
        ) from None
