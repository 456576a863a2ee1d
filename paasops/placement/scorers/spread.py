"""Scorer: spread one app's replicas, fewest replicas of the app first, the thesis score breaks ties."""

from __future__ import annotations

from paasops.placement.scorers.thesis import terms

NAME = "spread"

__all__ = ["NAME", "terms", "rank_key"]


def rank_key(score: float, replicas: int, host_id: str, index: int) -> tuple:
    """Smallest key wins: fewest replicas of the app, then highest thesis score, then lowest host id."""
    return (replicas, -score, host_id, index)
