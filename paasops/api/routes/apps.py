"""/api/apps: desired state of deployed apps, and scaling by app name."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from ...errors import NotFoundError
from ...results import AppDeleted, AppView, DeployResult
from ..deps import Caller, Service
from ..models import ScaleIn

router = APIRouter(prefix="/api/apps", tags=["apps"])


def _with_replicas(service, app) -> AppView:
    running = service.apps.replicas(app.name, app.spec_hash)
    return AppView(**asdict(app), replicas=len(running), hosts=sorted({c.engine_id for c in running}))


@router.get("", response_model=list[AppView])
def list_apps(service: Service, caller: Caller) -> list[AppView]:
    return [_with_replicas(service, a) for a in service.store.list_apps()]


@router.get("/{name}", response_model=AppView)
def get_app(name: str, service: Service, caller: Caller) -> AppView:
    app = service.store.get_app(name)
    if app is None:
        raise NotFoundError(f"no app {name!r}", where="apps")
    return _with_replicas(service, app)


@router.post("/{name}/scale", response_model=DeployResult)
def scale_app(name: str, body: ScaleIn, service: Service, caller: Caller) -> DeployResult:
    return service.apps.scale(name, body.count, user=caller.name)


@router.delete("/{name}", response_model=AppDeleted)
def delete_app(name: str, service: Service, caller: Caller) -> AppDeleted:
    return service.apps.delete(name, user=caller.name)
