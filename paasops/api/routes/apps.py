"""/api/apps: desired state of deployed apps, and scaling by app name."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from ...errors import NotFoundError
from ..deps import Caller, Service
from ..models import ScaleIn

router = APIRouter(prefix="/api/apps", tags=["apps"])


def _with_replicas(service, app) -> dict:
    running = service.apps.replicas(app.name, app.spec_hash)
    return {**asdict(app), "replicas": len(running),
            "hosts": sorted({c.engine_id for c in running})}


@router.get("")
def list_apps(service: Service, caller: Caller) -> list[dict]:
    return [_with_replicas(service, a) for a in service.store.list_apps()]


@router.get("/{name}")
def get_app(name: str, service: Service, caller: Caller) -> dict:
    app = service.store.get_app(name)
    if app is None:
        raise NotFoundError(f"no app {name!r}", where="apps")
    return _with_replicas(service, app)


@router.post("/{name}/scale")
def scale_app(name: str, body: ScaleIn, service: Service, caller: Caller) -> dict:
    return service.apps.scale(name, body.count, user=caller.name)
