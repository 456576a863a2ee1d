"""/api/tokens: long-lived API tokens for jobs (create, list, revoke); a user manages their own, an admin all."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from ...auth.api_tokens import DEFAULT_DAYS, MAX_ROUTES
from ...errors import ForbiddenError
from ...results import ApiTokenCreated, ApiTokenRevoked, ApiTokenView
from ..deps import Caller, Service

router = APIRouter(prefix="/api", tags=["tokens"])


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    role: str = Field(min_length=1, max_length=64)
    routes: list[str] = Field(default=[], max_length=MAX_ROUTES)  # ACL rules; empty: the whole role
    expires_days: float | None = Field(default=DEFAULT_DAYS, gt=0, le=36500)  # null: never expires


@router.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=ApiTokenCreated)
def create_token(body: TokenIn, service: Service, caller: Caller) -> dict:
    """A new API token; the answer carries its secret, shown this once only."""
    if caller.token is not None:  # a job's token makes no further tokens: a person who logged in does
        raise ForbiddenError("API tokens are created from a login session, not with another API token",
                             where="tokens")
    return service.api_tokens.create(body.name, role=body.role, routes=body.routes,
                                     expires_days=body.expires_days, by=caller)


@router.get("/tokens", response_model=list[ApiTokenView])
def list_tokens(service: Service, caller: Caller) -> list[dict]:
    """Your API tokens (an admin: everyone's), never their secrets."""
    return service.api_tokens.list(caller)


@router.delete("/tokens/{name}", response_model=ApiTokenRevoked)
def revoke_token(name: str, service: Service, caller: Caller) -> dict:
    return service.api_tokens.revoke(name, by=caller)
