"""The service's authenticator: a token from the request's headers, its account, then the role ACL."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ..errors import AuthError, ForbiddenError
from ..store.base import Store
from ..store.records import Token
from . import acl
from .principal import Principal
from .tokens import Tokens

log = logging.getLogger(__name__)
NO_TOKEN = "no token: log in with `paasops login`"
BAD_TOKEN = "invalid or expired token: log in again with `paasops login`"


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

    def __init__(self, store: Store, tokens: Tokens):
        self.store = store
        self.tokens = tokens

    def authenticate(self, headers: Mapping[str, str], method: str, path: str) -> tuple[Principal, Token]:
        credential = credential_from(headers)
        if not credential:
            raise AuthError(NO_TOKEN)
        token = self.tokens.lookup(credential)
        account = self.store.get_account(token.user) if token else None
        if token is None or account is None:
            raise AuthError(BAD_TOKEN)
        role = self.store.get_role(account.role)
        if role is None or not acl.allows(role.paths, method, path):
            log.info("denied: %s (role %s) %s %s", account.name, account.role, method, _shown(path))
            raise ForbiddenError(f"role {account.role!r} may not {method} {_shown(path)}")
        return Principal(account.name, account.role), token

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
