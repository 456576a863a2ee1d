"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from ..errors import RateLimited, UserInputError

MIN_LENGTH = 8
MAX_LENGTH = 1024  # hashing cost grows with length: a bound keeps one request from being expensive

_hasher = PasswordHasher(type=Type.ID)
# Each hash takes the hasher's memory (64 MiB): at most this many at once bounds what a login flood can take.
DEFAULT_CONCURRENCY = 2
WAIT = 30.0  # seconds a login waits for its turn before it is turned away (429); waiting costs no thread
_slots: threading.BoundedSemaphore | None = threading.BoundedSemaphore(DEFAULT_CONCURRENCY)


_limit = DEFAULT_CONCURRENCY


def set_concurrency(limit: int) -> None:
    """At most `limit` hashes at once in this process (0: unbounded, what the bench compares against)."""
    global _slots, _limit
    _slots = threading.BoundedSemaphore(limit) if limit > 0 else None
    _limit = max(limit, 0)


def concurrency() -> int:
    """The bound set_concurrency set (0: none)."""
    return _limit


@contextmanager
def _turn() -> Iterator[None]:
    slots = _slots
    if slots is None:
        yield
        return
    if not slots.acquire(timeout=WAIT):
        raise RateLimited("too many logins at once: try again shortly", retry_after=1.0, where="login")
    try:
        yield
    finally:
        slots.release()


def check_strength(password: str, where: str = "password") -> None:
    """Refuse passwords too short to resist guessing (or too long to hash cheaply)."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise UserInputError(f"must be at least {MIN_LENGTH} characters", where=where)
    if len(password) > MAX_LENGTH:
        raise UserInputError(f"must be at most {MAX_LENGTH} characters", where=where)


def hash_password(password: str) -> str:
    with _turn():
        return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        with _turn():
            return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than today's (re-hash at the next login)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@functools.cache
def _dummy_hash() -> str:
    return hash_password("no such account: this hash only spends the time a real check would")


def spend_verify_time(password: str) -> None:
    """Verify against a throwaway hash, so an unknown user name takes as long as a wrong password."""
    verify_password(_dummy_hash(), password)
