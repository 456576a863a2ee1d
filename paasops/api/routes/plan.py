"""/api/plan: what losing, draining or adding hosts (and deploying an app) would do; nothing is changed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ...results import WhatIfPlan
from ...service import whatif
from ...spec import parse_app_spec
from ..deps import Caller, Service

router = APIRouter(prefix="/api", tags=["ops"])
HOST_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
EXPLAIN = 20


class AddedHostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=HOST_ID)
    cpus: float = Field(gt=0, le=4096)
    memory_mb: int = Field(gt=0, le=1 << 30)


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lose: list[str] = Field([], max_length=1000, description="Hosts gone, with their replicas.")
    drain: list[str] = Field([], max_length=1000, description="Hosts drained: their replicas move.")
    add: list[AddedHostIn] = Field([], max_length=1000, description="Empty hosts added.")
    spec: dict[str, Any] | None = Field(None, description="An app spec (app.yml as JSON): where `count` new "
                                                          "replicas of it would go.")
    count: int | None = Field(None, ge=0, strict=True, description="Replicas of `spec` (default: its count).")
    explain: int | None = Field(EXPLAIN, ge=0, description="Hosts explained per app: those placed on or named, then "
                                                           "the best others up to this many; null: every host.")


@router.post("/plan", response_model=WhatIfPlan)
def plan(body: PlanIn, service: Service, caller: Caller) -> WhatIfPlan:
    """Where every replica of the hosts lost or drained would go (and the app's, with `spec`), each host's score
    terms or the filter that rejected it, and what would not fit; a user sees its own apps."""
    spec = parse_app_spec(body.spec, source="spec") if body.spec is not None else None
    return whatif.plan(service.apps, lose=body.lose, drain=body.drain,
                       add=[whatif.NewHost(h.id, h.cpus, h.memory_mb) for h in body.add],
                       spec=spec, count=body.count, explain=body.explain, who=caller)
