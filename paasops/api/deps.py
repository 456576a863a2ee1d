"""Named dependencies every route uses: the running service and the caller's access."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from ..auth.principal import Principal
from ..errors import AuthError

if TYPE_CHECKING:
    from ..service.service import Service as RunningService

__all__ = ["Caller", "Principal", "Service", "get_principal", "get_service"]


def get_service(request: Request) -> RunningService:
    return request.app.state.service


def get_principal(request: Request) -> Principal:
    """Who calls. The service's authenticator decides (accounts/tokens and the role ACL plug in here)."""
    principal = getattr(request.state, "principal", None)  # BodyGuard checked it before the body was read
    if principal is None:
        principal = request.app.state.service.authenticator(request)
    if principal is None:
        raise AuthError("missing or invalid token: log in with `paasops login`", where=request.url.path)
    return principal


Service = Annotated["RunningService", Depends(get_service)]
Caller = Annotated[Principal, Depends(get_principal)]
