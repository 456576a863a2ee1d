"""Login defence, pure: backoff per account and per client address, and a lockout after repeated failures."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LoginPolicy:
    free_failures: int = 5  # failures in a row an account gets before it must wait
    backoff: float = 1.0  # the first wait (s); each further failure doubles it
    max_backoff: float = 60.0
    address_free_failures: int = 20  # an address may mistype for several accounts before it waits
    lock_after: int = 10  # failures of one account within `window` that lock it (0: never)
    lock_for: float = 900.0  # seconds a locked account stays locked (unless an admin lifts it)
    window: float = 900.0  # failures older than this are forgotten
    max_keys: int = 10_000  # keys remembered; the oldest go first, so a flood of names or addresses is bounded

    def delay(self, failures: int, free: int) -> float:
        """Seconds to wait after `failures` in a row: 0 for the first `free`, then backoff·2ⁿ up to the maximum."""
        over = failures - free
        if over < 0:
            return 0.0
        return min(self.backoff * 2 ** min(over, 32), self.max_backoff)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float = 0.0  # seconds, when not allowed
    locked: bool = False  # the account is locked (not just backing off)
    reason: str = ""


@dataclass
class _Key:
    failures: int = 0
    last: float = 0.0
    locked_until: float = 0.0


class LoginLimiter:
    """Decides whether a login attempt may try its password; told of each failure and success.

    Keys are ("account", name) and ("address", ip). Not thread-safe on its own: the caller holds a lock.
    """

    def __init__(self, policy: LoginPolicy | None = None, clock: Callable[[], float] = time.monotonic):
        self.policy = policy or LoginPolicy()
        self.clock = clock
        self._keys: OrderedDict[tuple[str, str], _Key] = OrderedDict()

    def _get(self, key: tuple[str, str]) -> _Key:
        state = self._keys.get(key)
        now = self.clock()
        if state is not None and state.locked_until <= now and now - state.last > self.policy.window:
            state = None  # forgotten: its failures are too old
        if state is None:
            state = self._keys[key] = _Key()
            self._evict(now)
        self._keys.move_to_end(key)
        return state

    def _evict(self, now: float) -> None:
        """Forget the oldest keys beyond the bound, a locked account last (a flood of new addresses or
        names must not be a way to lift a lockout)."""
        spared = 0
        while len(self._keys) > self.policy.max_keys:
            key, state = next(iter(self._keys.items()))
            if state.locked_until > now and spared < len(self._keys):
                self._keys.move_to_end(key)
                spared += 1
            else:
                del self._keys[key]

    def check(self, account: str, address: str) -> Verdict:
        """May this attempt verify its password now? (A correct password is refused too when not.)"""
        now, policy = self.clock(), self.policy
        acc = self._get(("account", account))
        if acc.locked_until > now:
            return Verdict(False, acc.locked_until - now, True, f"account {account!r} is locked")
        for state, free, what in ((acc, policy.free_failures, f"account {account!r}"),
                                  (self._get(("address", address)), policy.address_free_failures, address)):
            wait = state.last + policy.delay(state.failures, free) - now
            if state.failures > 0 and wait > 0:
                return Verdict(False, wait, False, f"too many failed logins for {what}")
        return Verdict(True)

    def failed(self, account: str, address: str) -> bool:
        """Count a wrong password; True when this failure locks the account."""
        now = self.clock()
        states = [self._get(("address", address)), self._get(("account", account))]
        for state in states:
            state.failures += 1
            state.last = now
        acc = states[-1]
        if self.policy.lock_after and acc.failures >= self.policy.lock_after and acc.locked_until <= now:
            acc.locked_until = now + self.policy.lock_for
            return True
        return False

    def succeeded(self, account: str, address: str) -> None:
        for key in (("account", account), ("address", address)):
            self._keys.pop(key, None)

    def locked_for(self, account: str) -> float:
        """Seconds the account stays locked (0 when it is not)."""
        state = self._keys.get(("account", account))
        return max(0.0, state.locked_until - self.clock()) if state else 0.0

    def unlock(self, account: str) -> bool:
        """Lift the account's lockout and backoff (an admin's act); True if it was locked or backing off."""
        state = self._keys.pop(("account", account), None)
        return state is not None and state.failures > 0
