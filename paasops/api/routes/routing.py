"""/api/routes: each exposed app's route, its backends and what every edge serves of it (each caller its own apps)."""

from __future__ import annotations

from fastapi import APIRouter

from ...results import RouteView
from ..deps import Caller, Service

router = APIRouter(prefix="/api", tags=["routes"])


@router.get("/routes", response_model=list[RouteView])
def list_routes(service: Service, caller: Caller) -> list[RouteView]:
    """Hostnames/path or tcp port → backends (ready or drain), and per edge its revision, lag and last error;
    an admin sees every app's, any other account the apps it may see (auth.ownership)."""
    return service.route_views(caller)
