"""Request bodies of the API (its answers are the models of paasops.results)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EngineIn(_Body):
    address: str = Field(min_length=1)
    id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    port: int = Field(2376, ge=1, le=65535)
    labels: dict[str, str] = {}
    cpus: float | None = Field(None, gt=0)
    memory_mb: int | None = Field(None, gt=0)
    tls: bool = True  # false: plain TCP, which needs insecure_tcp (admin role only)
    insecure_tcp: bool = False


class DeployIn(_Body):
    spec: dict[str, Any]
    count: int | None = Field(None, ge=0, strict=True)  # strict: `true` is not 1
    dry_run: bool = False


class ScaleIn(_Body):
    count: int = Field(ge=0, strict=True)


class RollbackIn(_Body):
    to: str | None = Field(None, min_length=1, max_length=64)  # a release id or unique prefix; None: the one before


class EventIn(_Body):
    """An event a client records (admins): only the types in vocabulary.CLIENT_EVENT_TYPES (`paasops patch`)."""

    type: str = Field(min_length=1, max_length=64)
    host: str | None = Field(None, max_length=253)
    message: str = Field("", max_length=4000)
    data: dict[str, Any] = {}
