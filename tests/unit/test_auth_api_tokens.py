"""API tokens for jobs and the login defence of Accounts, on an in-memory store with a fake clock."""

from __future__ import annotations

import functools

import pytest

from paasops.auth import passwords
from paasops.auth.accounts import Accounts
from paasops.auth.api_tokens import DAY, ApiTokens, check_routes, may_grant
from paasops.auth.authenticator import NEVER, Authenticator
from paasops.auth.first_admin import seed_roles
from paasops.auth.limiter import LoginLimiter, LoginPolicy
from paasops.auth.principal import Principal
from paasops.auth.tokens import Tokens
from paasops.errors import AuthError, ForbiddenError, NotFoundError, RateLimited, UserInputError
from paasops.store.sqlite import SqliteStore

ANN, BOB = Principal("ann", "admin"), Principal("bob", "user")


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@functools.cache
def hashed(password: str) -> str:
    return passwords.hash_password(password)


@pytest.fixture
def store():
    with SqliteStore(":memory:") as s:
        seed_roles(s)
        s.create_account("ann", hashed("ann-password"), "admin")
        s.create_account("bob", hashed("bob-password"), "user")
        yield s


@pytest.fixture
def events():
    return []


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def jobs(store, events, clock):
    return ApiTokens(store, record=lambda type_, **kw: events.append((type_, kw)), clock=clock)


@pytest.fixture
def auth(store, jobs, clock):
    return Authenticator(store, Tokens(store, clock=clock), jobs)


@pytest.mark.parametrize(("creator", "role", "granted"), [
    ("admin", "admin", True), ("admin", "user", True),  # an admin grants any role
    ("user", "user", True), ("user", "admin", False),  # anyone else their own only
    ("ops", "user", False),
])
def test_may_grant(creator, role, granted):
    assert may_grant(creator, role) is granted


@pytest.mark.parametrize(("routes", "ok"), [
    ([], True), (["POST /api/reconcile"], True), (["GET /api/report", "/api/apps"], True),
    (["api/report"], False), (["GET /api/../accounts"], False), (["a b c"], False), (["/x"] * 33, False),
])
def test_check_routes(routes, ok):
    if ok:
        assert check_routes(routes) == routes
    else:
        with pytest.raises(UserInputError):
            check_routes(routes)


def test_create_shows_the_secret_once_and_stores_its_hash(store, jobs, events, clock):
    made = jobs.create("cron", role="user", by=BOB)
    user, secret = made["token"].split(":")
    assert user == "bob" and made["expires_at"] == clock.t + 365 * DAY
    stored = store.list_api_tokens()
    assert secret not in repr(stored) and "token" not in jobs.list(BOB)[0]
    assert [t["name"] for t in jobs.list(BOB)] == ["cron"] and jobs.list(ANN)[0]["user"] == "bob"
    assert events[0][0] == "add-api-token" and secret not in repr(events)


def test_create_refuses_more_than_the_creators_role_and_bad_input(jobs):
    with pytest.raises(ForbiddenError):
        jobs.create("up", role="admin", by=BOB)
    with pytest.raises(UserInputError):
        jobs.create("x", role="nosuch", by=ANN)
    with pytest.raises(UserInputError):
        jobs.create("bad name", role="user", by=ANN)
    with pytest.raises(UserInputError):
        jobs.create("x", role="user", by=ANN, expires_days=0)


def test_token_authenticates_with_its_role_and_routes(auth, jobs):
    cred = jobs.create("reconcile-cron", role="user", by=ANN, routes=["GET /api/apps"])["token"]
    principal, token = auth.authenticate({"authorization": f"Bearer {cred}"}, "GET", "/api/apps")
    assert principal == Principal("ann", "user", token="reconcile-cron")  # acts as ann, with role user
    with pytest.raises(ForbiddenError):  # in the role, but not in the token's routes
        auth.authenticate({"authorization": f"Bearer {cred}"}, "GET", "/api/containers")
    with pytest.raises(ForbiddenError):  # not in the role
        auth.authenticate({"authorization": f"Bearer {cred}"}, "GET", "/api/accounts")


def test_expiry_none_revoke_and_demotion(auth, jobs, store, clock):
    cred = jobs.create("forever", role="admin", by=ANN, expires_days=None)["token"]
    clock.t += 100 * 365 * DAY
    _, token = auth.authenticate({"x-access-token": cred}, "GET", "/api/accounts")
    assert token.expires_at == NEVER
    store.set_role("ann", "user")  # ann may no longer grant admin: her admin token stops
    with pytest.raises(AuthError):
        auth.authenticate({"x-access-token": cred}, "GET", "/api/apps")
    store.set_role("ann", "admin")
    assert jobs.revoke("forever", by=ANN) == {"revoked": "forever"}
    with pytest.raises(AuthError):
        auth.authenticate({"x-access-token": cred}, "GET", "/api/apps")


def test_expiring_token_and_revoking_anothers(auth, jobs, clock):
    cred = jobs.create("week", role="user", by=BOB, expires_days=7)["token"]
    with pytest.raises(NotFoundError):  # bob's tokens are not ann's to see as a user... nor others' to bob
        jobs.revoke("week", by=Principal("carl", "user"))
    clock.t += 7 * DAY + 1
    with pytest.raises(AuthError):
        auth.authenticate({"x-access-token": cred}, "GET", "/api/apps")


# -- login defence through Accounts ----------------------------------------------------------------
@pytest.fixture
def accounts(store, events, clock):
    policy = LoginPolicy(free_failures=2, backoff=5.0, max_backoff=5.0, lock_after=3, lock_for=60.0)
    return Accounts(store, Tokens(store, clock=clock), record=lambda type_, **kw: events.append((type_, kw)),
                    limiter=LoginLimiter(policy, clock))


def test_login_backs_off_locks_and_an_admin_unlocks(accounts, events, clock):
    for _ in range(2):
        with pytest.raises(AuthError):
            accounts.login("bob", "wrong-password", "10.1.1.1")
    with pytest.raises(RateLimited) as backoff:
        accounts.login("bob", "bob-password", "10.1.1.1")  # the right password waits its turn too
    assert backoff.value.retry_after == 5.0
    clock.t += 5
    with pytest.raises(AuthError):
        accounts.login("bob", "wrong-password", "10.1.1.1")  # the third: locked
    clock.t += 30
    with pytest.raises(RateLimited, match="locked"):
        accounts.login("bob", "bob-password", "10.9.9.9")
    kinds = [e[0] for e in events]
    assert kinds == ["login-failed"] * 3 + ["login-locked"]
    assert events[0][1]["data"] == {"account": "bob", "address": "10.1.1.1"}
    assert "wrong-password" not in repr(events)
    assert accounts.unlock("bob", by="ann") == {"account": "bob", "unlocked": True, "was_locked": True}
    assert accounts.login("bob", "bob-password", "10.9.9.9")["user"] == "bob"
    assert events[-2][0] == "login-unlocked"


def test_deleting_an_account_drops_its_api_tokens(accounts, jobs, store):
    jobs.create("cron", role="user", by=BOB)
    accounts.remove("bob", by="ann")
    assert store.list_api_tokens() == []


def test_hash_concurrency_is_bounded(monkeypatch):
    import threading
    import time

    inside, peak, lock = [0], [0], threading.Lock()

    class SlowHasher:
        def verify(self, *_):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.02)
            with lock:
                inside[0] -= 1
            return True

    monkeypatch.setattr(passwords, "_hasher", SlowHasher())
    passwords.set_concurrency(2)
    threads = [threading.Thread(target=passwords.verify_password, args=("h", "p")) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2
    passwords.set_concurrency(passwords.DEFAULT_CONCURRENCY)
