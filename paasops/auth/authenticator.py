"""The service's authenticator: a token from the request's headers, its account, then the role ACL."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import AuthError, ForbiddenError, StoreUnavailable
from ..store.base import Store
from ..store.records import Token
from . import acl
from .api_tokens import ApiTokens
from .principal import Principal
from .tokens import Tokens, hash_token

log = logging.getLogger(__name__)
NO_TOKEN = "no token: log in with `paasops login`"
BAD_TOKEN = "invalid or expired token: log in again with `paasops login`"
NEVER = 253402300799.0  # 9999-12-31: the expiry shown for an API token that has none
CACHE_TTL = 30.0  # seconds a verified token may be trusted from memory while the store is away


@dataclass(frozen=True)
class Verified:
    """A credential checked against the store: who it is, what their role allows, and when."""

    principal: Principal
    token: Token
    paths: tuple[str, ...]
    at: float
    routes: tuple[str, ...] = ()  # an API token's own routes, which narrow its role's paths


def credential_from(headers: Mapping[str, str]) -> str | None:
    """`X-Access-Token: user:token` (the thesis) or `Authorization: Bearer user:token|token`."""
    access = (headers.get("x-access-token") or "").strip()
    bearer = ""
    scheme, _, value = (headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer":
        bearer = value.strip()
    elif scheme:
        raise AuthError("only `Authorization: Bearer` tokens are accepted")
    if access and bearer and access != bearer:
        raise AuthError("two different tokens in X-Access-Token and Authorization: send one")
    return access or bearer or None


class Authenticator:
    """Callable on a request (what `api.deps.get_principal` calls): a Principal, AuthError or ForbiddenError."""

    def __init__(self, store: Store, tokens: Tokens, api_tokens: ApiTokens | None = None, *,
                 cache_ttl: float = CACHE_TTL, clock: Callable[[], float] = time.time):
        self.store = store
        self.tokens = tokens
        self.api_tokens = api_tokens
        self.cache_ttl = cache_ttl
        self.clock = clock
        self._verified: dict[str, Verified] = {}  # sha256 of the credential -> its last check
        self._lock = threading.Lock()
        tokens.on_revoke = lambda token_hash, user: self.forget(token_hash, user=user)

    def authenticate(self, headers: Mapping[str, str], method: str, path: str) -> tuple[Principal, Token]:
        """The store decides whenever it answers (a revoked token is refused at once). Only while it is
        unavailable does a check made less than `cache_ttl` seconds ago stand in (never past the
        token's expiry), so authenticated reads the service can serve from memory go on."""
        credential = credential_from(headers)
        if not credential:
            raise AuthError(NO_TOKEN)
        key = hash_token(credential)
        verified: Verified | None
        try:
            verified = self._verify(key, credential)
        except StoreUnavailable:
            verified = self._cached(key)
            if verified is None:
                raise
        except AuthError:
            with self._lock:
                self._verified.pop(key, None)
            raise
        principal = verified.principal
        if verified.routes and not acl.allows(list(verified.routes), method, path) or \
                not acl.allows(list(verified.paths), method, path):
            if principal.token:  # an API token: its name says which job was refused
                log.info("denied: API token %s (role %s) %s %s", principal.token, principal.role, method,
                         _shown(path))
                raise ForbiddenError(f"API token {principal.token!r} may not {method} {_shown(path)}")
            log.info("denied: %s (role %s) %s %s", principal.name, principal.role, method, _shown(path))
            raise ForbiddenError(f"role {principal.role!r} may not {method} {_shown(path)}")
        return principal, verified.token

    def _verify(self, key: str, credential: str) -> Verified:
        token = self.tokens.lookup(credential)
        if token is None and self.api_tokens is not None:
            verified = self._api_token(credential)
        else:
            account = self.store.get_account(token.user) if token else None
            if token is None or account is None:
                raise AuthError(BAD_TOKEN)
            role = self.store.get_role(account.role)
            verified = Verified(Principal(account.name, account.role, team=account.team), token,
                                tuple(role.paths) if role is not None else (), self.clock())
        with self._lock:
            if len(self._verified) > 10000:  # bounded: the oldest half goes
                for old in sorted(self._verified, key=lambda k: self._verified[k].at)[:5000]:
                    del self._verified[old]
            self._verified[key] = verified
        return verified

    def _api_token(self, credential: str) -> Verified:
        """A job's token: its role (and routes, when it has some) decide, acting as the account that made it."""
        assert self.api_tokens is not None
        api = self.api_tokens.lookup(credential)
        account = self.store.get_account(api.user) if api else None
        if api is None or account is None or not self.api_tokens.still_granted(api, account):
            raise AuthError(BAD_TOKEN)
        role = self.store.get_role(api.role)
        # routes that need the caller's token (whoami) see its expiry; "never" as a far date JSON can carry
        token = Token(api.token_hash, api.user, api.expires_at or NEVER, api.created_at)
        return Verified(Principal(account.name, api.role, token=api.name, team=account.team), token,
                        tuple(role.paths) if role is not None else (), self.clock(), tuple(api.routes or ()))

    def _cached(self, key: str) -> Verified | None:
        now = self.clock()
        verified = self._verified.get(key)
        if verified is None or now - verified.at > self.cache_ttl or now >= verified.token.expires_at:
            return None
        return verified

    def forget(self, token_hash: str | None = None, *, user: str | None = None) -> None:
        """Drop cached checks of a revoked token (or of all of a user's), so an outage that follows
        does not bring them back."""
        with self._lock:
            for key, verified in list(self._verified.items()):
                if verified.token.token_hash == token_hash or verified.principal.name == user:
                    del self._verified[key]

    def __call__(self, request) -> Principal:
        # scope["path"] is what the router matches: decoded once by the server, never dot-resolved.
        principal, token = self.authenticate(request.headers, request.method, request.scope["path"])
        request.state.token = token  # logout and passwd need the caller's own token
        return principal


def _shown(path: str) -> str:
    """The path as routed and, when it differs, as it resolves (control characters are never echoed)."""
    try:
        meant, routed = acl.normalise(path), acl.literal(path)
    except ValueError:
        return "(a malformed path)"
    return routed if routed == meant else f"{routed} (resolving to {meant})"
