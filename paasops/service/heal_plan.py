"""The supervisor's pure decisions: the disruption budget, which planned actions it lets through, unhealthy clocks."""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable

from ..store.records import App
from .containers import ContainerView
from .reconcile import Change

BUDGETED = frozenset({"missing"})  # replacements: what can flap; removing dead copies or surplus cannot


class DisruptionBudget:
    """At most `limit(app)` replicas replaced per app in any `window` seconds (a sliding window)."""

    def __init__(self, limit: Callable[[str], int], window: float = 60.0):
        self.limit, self.window = limit, window
        self._spent: dict[str, deque[float]] = {}

    def left(self, app: str, now: float) -> int:
        """Replacements app `app` may still have now."""
        spent = self._spent.setdefault(app, deque())
        while spent and spent[0] <= now - self.window:
            spent.popleft()
        return max(self.limit(app) - len(spent), 0)

    def spend(self, app: str, n: int, now: float) -> None:
        self._spent.setdefault(app, deque()).extend([now] * n)

    def free_at(self, app: str, now: float) -> float | None:
        """When app `app` gets its next replacement back (None: it has some left, or never spent)."""
        spent = self._spent.get(app)
        if self.left(app, now) > 0 or not spent:
            return None
        return spent[0] + self.window


@dataclasses.dataclass
class Gated:
    """The actions let through now, and those the budget defers (retried when it frees)."""

    allowed: list[Change]
    deferred: list[Change]


def gate(actions: Iterable[Change], budget: DisruptionBudget, now: float) -> Gated:
    """Let through what the budget allows, spending it: a create beyond the budget is cut to what is left
    (its lowest numbers first) and the rest deferred; an app's unhealthy replicas are removed only as far
    as their replacements start now (never below what runs)."""
    allowed: list[Change] = []
    deferred: list[Change] = []
    short: dict[str, int] = {}  # app -> replacements deferred
    for a in actions:
        if a.kind == "create" and a.reason in BUDGETED:
            n = min(a.count, budget.left(a.app, now))
            if n:
                budget.spend(a.app, n, now)
                allowed.append(dataclasses.replace(a, count=n, indexes=a.indexes[:n]))
            if n < a.count:
                short[a.app] = a.count - n
                deferred.append(dataclasses.replace(a, count=a.count - n, indexes=a.indexes[n:]))
        elif a.reason == "unhealthy" and short.get(a.app, 0) > 0:
            short[a.app] -= 1  # its replacement waits: so does its removal
            deferred.append(a)
        else:
            allowed.append(a)
    return Gated(allowed, deferred)


def unhealthy_clock(previous: dict[str, float], observed: Iterable[ContainerView], now: float) -> dict[str, float]:
    """Since when each replica seen unhealthy has been (first seen now if new); the healthy are dropped."""
    return {c.id: previous.get(c.id, now) for c in observed if c.unhealthy}


def deferral_key(deferred: Iterable[Change]) -> dict[str, tuple]:
    """What an app's deferred actions are, to record an event once per new deferral (not on every pass)."""
    out: dict[str, list] = {}
    for a in deferred:
        out.setdefault(a.app, []).append((a.kind, a.reason, a.count, a.container))
    return {app: tuple(sorted(v)) for app, v in out.items()}


def owns(action: Change, views: dict[str, ContainerView], records: dict[str, App]) -> bool:
    """Whether the supervisor takes this action of reconcile's plan: it starts missing replicas and removes
    the app's own unhealthy, surplus and dead ones; containers of another release or made by hand (orphans,
    dead or not) are left to reconcile, which reports what it removes."""
    if action.kind == "create" or action.reason in ("unhealthy", "duplicate"):
        return True
    view, record = views.get(action.container), records.get(action.app)
    return action.reason == "dead" and view is not None and record is not None and \
        view.spec_hash == record.spec_hash
