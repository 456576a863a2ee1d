"""/api/apps: desired state of deployed apps, and scaling by app name (each caller sees its own: auth.ownership)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from ...health_check import probe_text
from ...results import AppDeleted, AppView, DeployResult, ReleaseView
from ...service.route_publisher import app_urls
from ...store.records import App
from ..deps import Caller, Service
from ..models import RollbackIn, ScaleIn
from ..streams import progress_lines
from .containers import NDJSON

router = APIRouter(prefix="/api/apps", tags=["apps"])


def _with_replicas(service, app: App) -> AppView:
    """The app as the API shows it: its secrets by name only, never their (sealed) values."""
    running = [c for c in service.apps.replicas(app.name, app.spec_hash) if c.state == "running"]
    return AppView(name=app.name, spec={k: v for k, v in app.spec.items() if k != "secrets"}, count=app.count,
                   deployment_id=app.deployment_id, spec_hash=app.spec_hash, state=app.state,
                   created_at=app.created_at, updated_at=app.updated_at, replicas=len(running),
                   ready=sum(c.ready for c in running), unhealthy=sum(c.unhealthy for c in running),
                   health=probe_text(app.spec.get("health")),
                   hosts=sorted({c.engine_id for c in running}), owner=app.owner, team=app.team,
                   secrets=sorted(app.secrets), urls=app_urls(service, app.spec))


@router.get("", response_model=list[AppView])
def list_apps(service: Service, caller: Caller) -> list[AppView]:
    """The apps the caller may see: its own and its team's (an admin: all)."""
    return [_with_replicas(service, a) for a in service.apps.visible(who=caller)]


@router.get("/{name}", response_model=AppView)
def get_app(name: str, service: Service, caller: Caller) -> AppView:
    return _with_replicas(service, service.apps.get(name, who=caller))


@router.post("/{name}/scale", response_model=DeployResult)
def scale_app(name: str, body: ScaleIn, service: Service, caller: Caller) -> DeployResult:
    return service.apps.scale(name, body.count, user=caller.name, who=caller)


@router.get("/{name}/history", response_model=list[ReleaseView])
def app_history(name: str, service: Service, caller: Caller) -> list[ReleaseView]:
    """The app's releases, newest first: who deployed each, when, and how it ended."""
    return service.apps.history.views(service.apps.get(name, who=caller))


@router.post("/{name}/rollback", response_model=DeployResult, responses={200: NDJSON})
def rollback_app(name: str, body: RollbackIn, service: Service, caller: Caller, stream: bool = False):
    """Deploy an earlier release again (`to`: its id or a unique prefix; none: the one before the current)."""
    from ...service.rollback import rollback

    service.apps.get(name, who=caller)  # absent or another account's: a plain 404, before any stream starts

    def work(progress=lambda _: None) -> DeployResult:
        return rollback(service.apps, name, body.to, user=caller.name, progress=progress, who=caller)

    if not stream:
        return work()
    return StreamingResponse(progress_lines(work, name="api-rollback"), media_type="application/x-ndjson")


@router.delete("/{name}", response_model=AppDeleted)
def delete_app(name: str, service: Service, caller: Caller) -> AppDeleted:
    return service.apps.delete(name, user=caller.name, who=caller)
