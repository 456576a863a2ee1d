"""API tokens: random secrets handed out once, kept only as sha256 hex, with an expiry."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

from ..store.base import Store
from ..store.records import Token

DEFAULT_TTL = 12 * 3600.0


def new_secret() -> str:
    """256 random bits, URL-safe (never contains ':', so `user:token` splits unambiguously)."""
    return secrets.token_urlsafe(32)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_credential(value: str) -> tuple[str | None, str]:
    """`user:token` (the thesis's form, spaces allowed around ':') or a bare token -> (user or None, token)."""
    user, sep, secret = value.strip().rpartition(":")
    if not sep:
        return None, secret.strip()
    return user.strip() or None, secret.strip()


class Tokens:
    """Issue, look up and revoke tokens kept (hashed) in the store."""

    def __init__(self, store: Store, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.time):
        if ttl <= 0:
            raise ValueError("token lifetime must be positive")
        self.store = store
        self.ttl = ttl
        self.clock = clock
        # told of every revocation (token hash, user), e.g. to drop cached checks of those tokens
        self.on_revoke: Callable[[str | None, str | None], None] = lambda token_hash, user: None

    def issue(self, user: str) -> tuple[str, Token]:
        """A new token for `user`: (the credential `user:token` to hand out once, the stored record)."""
        secret = new_secret()
        record = self.store.put_token(user, hash_token(secret), self.clock() + self.ttl)
        return f"{user}:{secret}", record

    def lookup(self, credential: str) -> Token | None:
        """The live token a credential names; None if unknown, expired, or issued to another user."""
        user, secret = split_credential(credential)
        if not secret:
            return None
        token = self.store.find_token(hash_token(secret), now=self.clock())
        if token is None or (user is not None and user != token.user):
            return None
        return token

    def revoke(self, token_hash: str) -> bool:
        self.on_revoke(token_hash, None)
        return self.store.revoke_tokens(token_hash=token_hash) > 0

    def revoke_user(self, user: str, *, keep: str | None = None) -> int:
        """Revoke every token of `user` except the one whose hash is `keep`."""
        self.on_revoke(None, user)
        if keep is None:
            return self.store.revoke_tokens(user=user)
        return sum(self.store.revoke_tokens(token_hash=t.token_hash)
                   for t in self.store.list_tokens(user) if t.token_hash != keep)

    def purge_expired(self) -> int:
        return self.store.purge_expired(now=self.clock())
