"""Named dependencies every route uses: the running service and the caller's access."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ..errors import AuthError


@dataclass(frozen=True)
class Principal:
    name: str
    role: str


def get_service(request: Request):
    return request.app.state.service


def get_principal(request: Request) -> Principal:
    """Who calls. The service's authenticator decides (accounts/tokens and the role ACL plug in here)."""
    auth = request.app.state.service.authenticator
    principal = auth(request)
    if principal is None:
        raise AuthError("missing or invalid token: log in with `paasops login`", where=request.url.path)
    return principal


def local_trust(request: Request) -> Principal | None:
    """The pre-accounts authenticator: only callers on this machine's loopback are let in."""
    client = request.client.host if request.client else ""
    if client in ("127.0.0.1", "::1", "testclient"):
        return Principal("local", "admin")
    return None


Service = Annotated[object, Depends(get_service)]
Caller = Annotated[Principal, Depends(get_principal)]
