"""Placement: a pure scheduler that filters and scores a cluster snapshot and returns an explained plan."""

from paasops.placement.model import HostSnapshot, Request, Snapshot, Weights
from paasops.placement.placer import place, place_or_raise
from paasops.placement.plan import Assignment, HostExplanation, Plan, Unplaced
from paasops.placement.scale_down import scale_down_order
from paasops.placement.scorers import STRATEGIES

__all__ = [
    "Assignment",
    "HostExplanation",
    "HostSnapshot",
    "Plan",
    "Request",
    "STRATEGIES",
    "Snapshot",
    "Unplaced",
    "Weights",
    "place",
    "place_or_raise",
    "scale_down_order",
]
