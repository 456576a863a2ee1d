"""/api/cluster/info and /api/events."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Query

from ...results import ClusterInfo, EventView
from ..deps import Caller, Service

router = APIRouter(prefix="/api", tags=["cluster"])


@router.get("/cluster/info", response_model=ClusterInfo)
def cluster_info(service: Service, caller: Caller) -> ClusterInfo:
    return service.cluster.info()


@router.get("/events", response_model=list[EventView])
def events(service: Service, caller: Caller, type: str | None = None, tag: str | None = None,
           app: str | None = None, host: str | None = None, since: float | None = None,
           until: float | None = None, limit: int = Query(100, ge=1, le=10000)) -> list[EventView]:
    found = service.store.list_events(type=type, tag=tag, app=app, host=host, since=since, until=until,
                                      limit=limit)
    return [EventView(**asdict(e)) for e in found]
