"""The service's authenticator: a token from the request's headers, its account, then the role ACL."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ..errors import AuthError, ForbiddenError
from ..store.base import Store
from ..store.records import Token
from . import acl
from .api_tokens import ApiTokens
from .principal import Principal
from .tokens import Tokens

log = logging.getLogger(__name__)
NO_TOKEN = "no token: log in with `paasops login`"
BAD_TOKEN = "invalid or expired token: log in again with `paasops login`"
NEVER = 253402300799.0  # 9999-12-31: the expiry shown for an API token that has none


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

    def __init__(self, store: Store, tokens: Tokens, api_tokens: ApiTokens | None = None):
        self.store = store
        self.tokens = tokens
        self.api_tokens = api_tokens

    def authenticate(self, headers: Mapping[str, str], method: str, path: str) -> tuple[Principal, Token]:
        credential = credential_from(headers)
        if not credential:
            raise AuthError(NO_TOKEN)
        token = self.tokens.lookup(credential)
        if token is None and self.api_tokens is not None:
            return self._api_token(credential, method, path)
        account = self.store.get_account(token.user) if token else None
        if token is None or account is None:
            raise AuthError(BAD_TOKEN)
        role = self.store.get_role(account.role)
        if role is None or not acl.allows(role.paths, method, path):
            log.info("denied: %s (role %s) %s %s", account.name, account.role, method, _shown(path))
            raise ForbiddenError(f"role {account.role!r} may not {method} {_shown(path)}")
        return Principal(account.name, account.role), token

    def _api_token(self, credential: str, method: str, path: str) -> tuple[Principal, Token]:
        """A job's token: its role (and routes, when it has some) decide, acting as the account that made it."""
        assert self.api_tokens is not None
        api = self.api_tokens.lookup(credential)
        account = self.store.get_account(api.user) if api else None
        if api is None or account is None or not self.api_tokens.still_granted(api, account):
            raise AuthError(BAD_TOKEN)
        role = self.store.get_role(api.role)
        if role is None or not acl.allows(role.paths, method, path) or (
                api.routes and not acl.allows(api.routes, method, path)):
            log.info("denied: API token %s (role %s) %s %s", api.name, api.role, method, _shown(path))
            raise ForbiddenError(f"API token {api.name!r} may not {method} {_shown(path)}")
        # routes that need the caller's token (whoami) see its expiry; "never" as a far date JSON can carry
        return Principal(account.name, api.role, token=api.name), Token(api.token_hash, api.user,
                                                                          api.expires_at or NEVER, api.created_at)

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
