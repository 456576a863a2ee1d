"""Tokens, password hashes, the authenticator and first start, on an in-memory store with a fake clock."""

from __future__ import annotations

import functools
import hashlib
import io
import logging

import pytest

from paasops.auth import acl
from paasops.auth.authenticator import Authenticator, credential_from
from paasops.auth.first_admin import ensure_first_admin, seed_roles
from paasops.auth.passwords import hash_password, needs_rehash, verify_password
from paasops.auth.tokens import DEFAULT_TTL, Tokens, hash_token, split_credential
from paasops.errors import AuthError, ForbiddenError, UserInputError
from paasops.store.sqlite import SqliteStore


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@functools.cache
def hashed(password: str) -> str:
    return hash_password(password)  # argon2id is slow on purpose: once per password is enough here


@pytest.fixture
def store():
    with SqliteStore(":memory:") as s:
        seed_roles(s)
        s.create_account("ann", hashed("ann-password"), "admin")
        s.create_account("bob", hashed("bob-password"), "user")
        yield s


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def tokens(store, clock):
    return Tokens(store, clock=clock)


# -- tokens ----------------------------------------------------------------------------------------
def test_issue_hands_out_user_colon_token_and_stores_only_its_sha256(store, tokens, clock):
    credential, record = tokens.issue("bob")
    user, secret = credential.split(":")
    assert user == "bob" and len(secret) >= 43  # 256 bits, URL-safe base64
    assert record.token_hash == hashlib.sha256(secret.encode()).hexdigest() == hash_token(secret)
    assert record.expires_at == clock.t + DEFAULT_TTL == clock.t + 12 * 3600
    stored = store.list_tokens("bob")
    assert [t.token_hash for t in stored] == [record.token_hash]
    assert secret not in repr(stored)


def test_tokens_are_random(tokens):
    assert len({tokens.issue("bob")[0] for _ in range(50)}) == 50


@pytest.mark.parametrize("value, expected", [
    ("bob:abc", ("bob", "abc")),
    ("bob: abc", ("bob", "abc")),      # the thesis writes "user: token"
    ("abc", (None, "abc")),
    (" abc ", (None, "abc")),
    (":abc", (None, "abc")),
    ("bob:", ("bob", "")),
])
def test_split_credential(value, expected):
    assert split_credential(value) == expected


def test_lookup_with_or_without_the_user_and_never_for_another(tokens):
    credential, record = tokens.issue("bob")
    secret = credential.split(":")[1]
    assert tokens.lookup(credential) == record
    assert tokens.lookup(secret) == record
    assert tokens.lookup(f"ann:{secret}") is None
    assert tokens.lookup("bob:" + "x" * 43) is None
    assert tokens.lookup("bob:") is None


def test_expiry_is_the_configured_lifetime(store, clock):
    short = Tokens(store, ttl=60, clock=clock)
    credential, _ = short.issue("bob")
    clock.t += 59
    assert short.lookup(credential) is not None
    clock.t += 1
    assert short.lookup(credential) is None
    assert short.purge_expired() == 1 and store.list_tokens() == []
    with pytest.raises(ValueError):
        Tokens(store, ttl=0)


def test_revoke_one_and_all_but_one(tokens):
    a, ra = tokens.issue("bob")
    b, rb = tokens.issue("bob")
    c, rc = tokens.issue("bob")
    other, _ = tokens.issue("ann")
    assert tokens.revoke(ra.token_hash) is True and tokens.revoke(ra.token_hash) is False
    assert tokens.lookup(a) is None and tokens.lookup(b) is not None
    assert tokens.revoke_user("bob", keep=rc.token_hash) == 1
    assert tokens.lookup(b) is None and tokens.lookup(c) is not None
    assert tokens.revoke_user("bob") == 1 and tokens.lookup(c) is None
    assert tokens.lookup(other) is not None


# -- passwords -------------------------------------------------------------------------------------
def test_password_hash_is_argon2id_salted_and_verifies():
    first, second = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert first.startswith("$argon2id$") and first != second
    assert "s3cret-pass" not in first
    assert verify_password(first, "s3cret-pass") and not verify_password(first, "s3cret-pasS")
    assert not verify_password("not a hash", "s3cret-pass")
    assert not needs_rehash(first)
    assert needs_rehash("$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$" + "A" * 43)  # weaker parameters


# -- the authenticator -----------------------------------------------------------------------------
@pytest.mark.parametrize("headers, expected", [
    ({}, None),
    ({"x-access-token": "bob:abc"}, "bob:abc"),
    ({"authorization": "Bearer bob:abc"}, "bob:abc"),
    ({"authorization": "bearer abc"}, "abc"),
    ({"authorization": "Bearer abc", "x-access-token": "abc"}, "abc"),
])
def test_credential_from_headers(headers, expected):
    assert credential_from(headers) == expected


@pytest.mark.parametrize("headers", [
    {"authorization": "Basic Ym9iOnB3"},
    {"authorization": "Bearer abc", "x-access-token": "def"},
])
def test_credential_from_refuses(headers):
    with pytest.raises(AuthError):
        credential_from(headers)


def test_authenticate_checks_token_expiry_account_and_acl(store, tokens, clock):
    auth = Authenticator(store, tokens)
    bob, _ = tokens.issue("bob")
    principal, token = auth.authenticate({"x-access-token": bob}, "GET", "/api/containers")
    assert (principal.name, principal.role, token.user) == ("bob", "user", "bob")
    with pytest.raises(ForbiddenError) as denied:
        auth.authenticate({"x-access-token": bob}, "GET", "/api/containers/%2e%2e/accounts")
    assert str(denied.value) == ("role 'user' may not GET /api/containers/%2e%2e/accounts "
                                 "(resolving to /api/accounts)")
    with pytest.raises(ForbiddenError):
        auth.authenticate({"authorization": f"Bearer {bob}"}, "POST", "/api/engines")
    with pytest.raises(AuthError, match="no token"):
        auth.authenticate({}, "GET", "/api/containers")
    with pytest.raises(AuthError, match="invalid or expired"):
        auth.authenticate({"x-access-token": "bob:nope"}, "GET", "/api/containers")
    clock.t += DEFAULT_TTL
    with pytest.raises(AuthError, match="invalid or expired"):
        auth.authenticate({"x-access-token": bob}, "GET", "/api/containers")


def test_a_deleted_account_or_a_missing_role_lets_nothing_in(store, tokens):
    auth = Authenticator(store, tokens)
    ann, _ = tokens.issue("ann")
    bob, _ = tokens.issue("bob")
    store.delete_role("user")
    with pytest.raises(ForbiddenError):
        auth.authenticate({"x-access-token": bob}, "GET", "/api/containers")
    store.put_token("carl", hash_token("orphan"), 2e9)  # a token whose account is gone
    with pytest.raises(AuthError):
        auth.authenticate({"x-access-token": "carl:orphan"}, "GET", "/api/containers")
    assert auth.authenticate({"x-access-token": ann}, "DELETE", "/api/accounts/bob")[0].role == "admin"


# -- first start -----------------------------------------------------------------------------------
class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_seed_roles_keeps_a_changed_role():
    with SqliteStore(":memory:") as s:
        assert seed_roles(s) == ["admin", "user"]
        assert s.get_role("user").paths == acl.DEFAULT_ROLES["user"]
        s.put_role("user", ["/api/events"])
        assert seed_roles(s) == [] and s.get_role("user").paths == ["/api/events"]


def test_first_admin_from_the_given_password_and_only_once():
    with SqliteStore(":memory:") as s:
        err = io.StringIO()
        assert ensure_first_admin(s, "first-admin-pw", stdin=io.StringIO(), stderr=err) is True
        account = s.get_account("admin")
        assert account.role == "admin" and verify_password(account.password_hash, "first-admin-pw")
        assert err.getvalue() == ""
        assert ensure_first_admin(s, "other-password", stdin=io.StringIO(), stderr=err) is False
        with pytest.raises(UserInputError):
            ensure_first_admin(SqliteStore(":memory:"), "short")


def test_first_admin_asks_on_a_terminal():
    answers = iter(["short", "x", "long-enough-1", "long-enough-1"])
    with SqliteStore(":memory:") as s:
        assert ensure_first_admin(s, None, stdin=Tty(), stderr=io.StringIO(), ask=lambda _: next(answers))
        assert verify_password(s.get_account("admin").password_hash, "long-enough-1")


def test_first_admin_generated_password_is_shown_once_on_a_terminal(tmp_path):
    with SqliteStore(":memory:") as s:
        err = Tty()
        assert ensure_first_admin(s, None, stdin=io.StringIO(), stderr=err, password_file=tmp_path / "pw")
        shown = err.getvalue()
        password = shown.splitlines()[1].strip()
        assert len(password) >= 16 and verify_password(s.get_account("admin").password_hash, password)
        assert not (tmp_path / "pw").exists()
        ensure_first_admin(s, None, stdin=io.StringIO(), stderr=err)
        assert err.getvalue() == shown


def test_first_admin_generated_password_without_a_terminal_goes_to_a_0600_file_never_the_log(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    target = tmp_path / "state" / "pw"
    with SqliteStore(":memory:") as s:
        err = io.StringIO()  # a log file, not a terminal
        assert ensure_first_admin(s, None, stdin=io.StringIO(), stderr=err, password_file=target)
        password = target.read_text().strip()
        assert len(password) >= 16 and verify_password(s.get_account("admin").password_hash, password)
        assert target.stat().st_mode & 0o777 == 0o600
        assert password not in err.getvalue() and password not in caplog.text
        assert str(target) in caplog.text
    with SqliteStore(":memory:") as s:
        with pytest.raises(UserInputError, match="PAASOPS_ADMIN_PASSWORD"):
            ensure_first_admin(s, None, stdin=io.StringIO(), stderr=io.StringIO())
        assert s.list_accounts() == []
