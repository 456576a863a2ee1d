"""The login limiter (pure, clock injected): backoff per account and per address, lockout, admin unlock."""

from __future__ import annotations

import pytest

from paasops.auth.limiter import LoginLimiter, LoginPolicy

POLICY = LoginPolicy(free_failures=3, backoff=1.0, max_backoff=8.0, address_free_failures=5,
                     lock_after=6, lock_for=100.0, window=100.0, max_keys=50)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limiter(clock) -> LoginLimiter:
    return LoginLimiter(POLICY, clock)


@pytest.mark.parametrize(("failures", "free", "delay"), [
    (0, 3, 0.0), (2, 3, 0.0),
    (3, 3, 1.0),   # the first failure over the free ones: backoff · 2⁰
    (4, 3, 2.0),   # 1 · 2¹
    (6, 3, 8.0),   # 1 · 2³ = 8, the maximum
    (9, 3, 8.0),   # 1 · 2⁶ = 64, capped at 8
    (500, 3, 8.0),  # a huge count does not overflow
])
def test_delay(failures, free, delay):
    assert POLICY.delay(failures, free) == delay


def fail(limiter: LoginLimiter, n: int, account="alice", address="10.0.0.1") -> list[bool]:
    return [limiter.failed(account, address) for _ in range(n)]


def test_free_failures_then_backoff_with_retry_after(limiter, clock):
    fail(limiter, 3)
    verdict = limiter.check("alice", "10.0.0.1")
    assert not verdict.allowed and verdict.retry_after == 1.0 and not verdict.locked
    clock.t += 1.0
    assert limiter.check("alice", "10.0.0.1").allowed
    fail(limiter, 1)
    assert limiter.check("alice", "10.0.0.1").retry_after == 2.0  # doubled


def test_backoff_per_account_whatever_the_address(limiter):
    fail(limiter, 3, address="10.0.0.1")
    assert not limiter.check("alice", "10.0.0.2").allowed
    assert limiter.check("bob", "10.0.0.2").allowed


def test_backoff_per_address_across_accounts(limiter):
    for n in range(5):  # one failure each for five accounts: no account backs off, the address does
        fail(limiter, 1, account=f"user{n}")
    verdict = limiter.check("someone-else", "10.0.0.1")
    assert not verdict.allowed and "10.0.0.1" in verdict.reason
    assert limiter.check("someone-else", "10.0.0.2").allowed


def test_lockout_after_repeated_failures_refuses_until_it_lapses(limiter, clock):
    locked = []
    for _ in range(POLICY.lock_after):
        clock.t += 10  # past each backoff
        assert limiter.check("alice", "10.0.0.1").allowed
        locked.append(limiter.failed("alice", "10.0.0.1"))
    assert locked == [False] * 5 + [True]  # the sixth failure locks
    verdict = limiter.check("alice", "10.0.0.9")  # from anywhere
    assert not verdict.allowed and verdict.locked and verdict.retry_after == 100.0
    assert limiter.locked_for("alice") == 100.0
    clock.t += 99
    assert limiter.check("alice", "10.0.0.9").locked
    clock.t += 1.5
    assert limiter.check("alice", "10.0.0.9").allowed  # lapsed, and its old failures forgotten
    assert limiter.locked_for("alice") == 0.0


def test_admin_unlock_lifts_lockout_and_backoff(limiter, clock):
    for _ in range(POLICY.lock_after):
        clock.t += 10
        limiter.failed("alice", "10.0.0.1")
    assert limiter.check("alice", "10.0.0.2").locked
    assert limiter.unlock("alice") is True
    assert limiter.check("alice", "10.0.0.2").allowed
    assert limiter.unlock("alice") is False  # nothing left to lift


def test_success_resets_the_counts(limiter):
    fail(limiter, 2)
    limiter.succeeded("alice", "10.0.0.1")
    fail(limiter, 2)
    assert limiter.check("alice", "10.0.0.1").allowed


def test_old_failures_are_forgotten_after_the_window(limiter, clock):
    fail(limiter, 3)
    clock.t += POLICY.window + 1
    fail(limiter, 2)
    assert limiter.check("alice", "10.0.0.1").allowed


def test_lockout_off(clock):
    limiter = LoginLimiter(LoginPolicy(lock_after=0, free_failures=1000, address_free_failures=1000), clock)
    assert not any(fail(limiter, 100))
    assert limiter.check("alice", "10.0.0.1").allowed


def test_remembered_keys_are_bounded(limiter):
    for n in range(1000):
        limiter.failed(f"user{n}", f"10.0.{n // 256}.{n % 256}")
    assert len(limiter._keys) <= POLICY.max_keys


def test_a_flood_of_new_keys_does_not_evict_a_lockout(limiter, clock):
    for _ in range(POLICY.lock_after):
        clock.t += 10
        limiter.failed("alice", "10.0.0.1")
    for n in range(500):  # far more names than the limiter remembers
        limiter.failed(f"spray{n}", f"10.1.{n // 256}.{n % 256}")
    assert len(limiter._keys) <= POLICY.max_keys
    assert limiter.check("alice", "10.0.0.2").locked
