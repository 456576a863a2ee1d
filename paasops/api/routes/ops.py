"""/api/reconcile and /api/report: what the cron jobs call."""

from __future__ import annotations

import time

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ...results import ReconcileResult, Report
from ...service.reconcile_apply import Reconciler
from ...service.report import service_report
from ..deps import Caller, Service

router = APIRouter(prefix="/api", tags=["ops"])


class ReconcileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False
    apps: list[str] | None = Field(None, description="Only apps matching one of these shell-style patterns.")


@router.post("/reconcile", response_model=ReconcileResult)
def reconcile(service: Service, caller: Caller, body: ReconcileIn | None = None) -> ReconcileResult:
    """Converge the engines on the desired state (409 while another run holds the lock)."""
    body = body or ReconcileIn()
    return Reconciler.for_service(service).run(dry_run=body.dry_run, user=caller.name, apps=body.apps)


@router.get("/report", response_model=Report)
def report(service: Service, caller: Caller) -> Report:
    """Capacity and use per host, replicas per app versus desired, hosts down, the last day's events."""
    return service_report(service, time.time(), who=caller)  # a `user`'s apps and events only
