"""Caps on open follows (`logs --follow`, `events --follow`): per account and in all, and how long one may wait."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..errors import RateLimited


@dataclass(frozen=True)
class StreamPolicy:
    """Bounds of the follows one service keeps open (0 means no bound where it says so)."""

    per_account: int = 8  # follows one account may hold open at once
    total: int = 64  # follows open at once, every account together (also the size of their thread pool)
    idle_timeout: float = 300.0  # seconds without output after which a follow ends (0: never)
    max_lifetime: float = 0.0  # seconds a follow may last however busy (0: no limit)
    retry_after: float = 5.0  # what a refused client is told to wait


def wait_budget(policy: StreamPolicy, *, started: float, last_output: float, now: float) -> float | None:
    """Seconds a follow may still wait for its next output before it ends (<= 0: end it now; None:
    wait forever): the sooner of the idle timeout since the last output and the lifetime since the start."""
    bounds = []
    if policy.idle_timeout > 0:
        bounds.append(last_output + policy.idle_timeout - now)
    if policy.max_lifetime > 0:
        bounds.append(started + policy.max_lifetime - now)
    return min(bounds) if bounds else None


class StreamLimiter:
    """Counts open follows per account and in all; `acquire` refuses (429) past either cap, before the
    caller does any work. Thread-safe; no I/O."""

    def __init__(self, policy: StreamPolicy):
        self.policy = policy
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        return sum(self._open.values())

    def open_for(self, account: str) -> int:
        return self._open.get(account, 0)

    def acquire(self, account: str, kind: str = "follow") -> None:
        """Take one place for `account`, or raise RateLimited naming the cap that was reached."""
        policy = self.policy
        with self._lock:
            mine = self._open.get(account, 0)
            if mine >= policy.per_account:
                raise RateLimited(f"account {account} already has {mine} streams open (at most "
                                  f"{policy.per_account} per account): end one first", where=kind,
                                  retry_after=policy.retry_after)
            if sum(self._open.values()) >= policy.total:
                raise RateLimited(f"the service already has {policy.total} streams open, its limit: try "
                                  f"again later", where=kind, retry_after=policy.retry_after)
            self._open[account] = mine + 1

    def release(self, account: str) -> None:
        with self._lock:
            left = self._open.get(account, 0) - 1
            if left > 0:
                self._open[account] = left
            else:
                self._open.pop(account, None)
