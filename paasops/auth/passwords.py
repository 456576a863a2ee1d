"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile)."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from ..errors import UserInputError

MIN_LENGTH = 8
MAX_LENGTH = 1024  # hashing cost grows with length: a bound keeps one request from being expensive

_hasher = PasswordHasher(type=Type.ID)


def check_strength(password: str, where: str = "password") -> None:
    """Refuse passwords too short to resist guessing (or too long to hash cheaply)."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise UserInputError(f"must be at least {MIN_LENGTH} characters", where=where)
    if len(password) > MAX_LENGTH:
        raise UserInputError(f"must be at most {MAX_LENGTH} characters", where=where)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
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
    return _hasher.hash("no such account: this hash only spends the time a real check would")


def spend_verify_time(password: str) -> None:
    """Verify against a throwaway hash, so an unknown user name takes as long as a wrong password."""
    verify_password(_dummy_hash(), password)
