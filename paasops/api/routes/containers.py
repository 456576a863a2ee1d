"""/api/containers: list, run (batch deploy), inspect, start/stop/restart, scale, logs, destroy."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from ...errors import ForbiddenError, PaasopsError, UserInputError
from ...results import ContainerDetail, ContainerGone, ContainerInfo, DeployResult, Destroyed, DryRunPlan
from ...service.container_ops import LogFollow
from ...spec import AppSpec, forbidden_host_ports, parse_app_spec
from ...vocabulary import ADMIN_ROLE, MAX_LOG_TAIL
from ..deps import Caller, Principal, Service
from ..models import DeployIn, ScaleIn
from ..streams import FollowResponse, blocking_chunks, open_on_pool, progress_lines

router = APIRouter(prefix="/api/containers", tags=["containers"])
NDJSON = {"description": "With `stream=true`: progress events, then `{\"event\": \"result\", \"result\": ...}` "
                         "or `{\"event\": \"error\", ...}`, one JSON object a line.",
          "content": {"application/x-ndjson": {"schema": {"type": "object"}}}}


FOREIGN = Query(False, description="Also containers paasops did not start (admin only; to look, not to act).")


def _foreign(caller: Principal, foreign: bool) -> bool:
    if foreign and caller.role != ADMIN_ROLE:
        raise ForbiddenError("only an admin may see containers paasops did not start", where="foreign")
    return foreign


@router.get("", response_model=list[ContainerInfo])
def list_containers(service: Service, caller: Caller, all: bool = True,
                    app: str | None = None, foreign: bool = FOREIGN) -> list[ContainerInfo]:
    return [c.info() for c in service.cluster.containers(all_=all, app=app, foreign=_foreign(caller, foreign),
                                                         who=caller)]


def _check_ports(spec: AppSpec, caller: Principal, api_port: int) -> None:
    """A `user` may not publish a privileged host port nor one paasops itself uses (an admin may)."""
    taken = forbidden_host_ports(spec, api_port)
    if taken and caller.role != ADMIN_ROLE:
        ports = ", ".join(str(p) for p in taken)
        raise ForbiddenError(f"host ports below 1024 and paasops' own ports are for admins only: {ports}",
                             where="spec.ports")


@router.post("", response_model=DeployResult | DryRunPlan, responses={200: NDJSON})
def run_containers(body: DeployIn, service: Service, caller: Caller, stream: bool = False):
    """Deploy an app spec (app.yml as JSON) to `count` replicas; `stream=true` answers NDJSON progress."""
    spec = parse_app_spec(body.spec, source="spec")
    count = spec.count if body.count is None else body.count
    _check_ports(spec, caller, service.settings.port)
    if body.dry_run:
        return service.apps.dry_run(spec, count, who=caller)
    if not stream:
        return service.apps.deploy(spec, count, user=caller.name, who=caller)
    return StreamingResponse(progress_lines(lambda progress: service.apps.deploy(spec, count, user=caller.name,
                                                                            progress=progress, who=caller)),
                             media_type="application/x-ndjson")


@router.get("/{container_id}", response_model=ContainerDetail)
def inspect_container(container_id: str, service: Service, caller: Caller,
                      foreign: bool = FOREIGN) -> ContainerDetail:
    return service.cluster.inspect(container_id, foreign=_foreign(caller, foreign), who=caller)


@router.delete("/{container_id}", response_model=Destroyed)
def destroy_container(container_id: str, service: Service, caller: Caller) -> Destroyed:
    _, view = service.cluster.find(container_id, who=caller)
    service.cluster.operate("destroy", container_id, user=caller.name, who=caller)
    return Destroyed(destroyed=view.id)


def _action(action: str):
    def handler(container_id: str, service: Service, caller: Caller) -> ContainerInfo | ContainerGone:
        view = service.cluster.operate(action, container_id, user=caller.name, who=caller)
        return view.info() if view else ContainerGone(id=container_id)
    handler.__name__ = f"{action}_container"
    return handler


for _name in ("start", "stop", "restart"):
    router.add_api_route(f"/{{container_id}}/{_name}", _action(_name), methods=["POST"],
                         response_model=ContainerInfo | ContainerGone, summary=f"{_name.capitalize()} a container")


@router.post("/{container_id}/scale", response_model=DeployResult)
def scale_container(container_id: str, body: ScaleIn, service: Service, caller: Caller) -> DeployResult:
    """Scale the app this container belongs to (its identical containers share the spec hash)."""
    _, view = service.cluster.find(container_id, who=caller)
    if not view.app:
        raise PaasopsError(f"container {view.id[:12]} is not part of a paasops app", where="scale")
    return service.apps.scale(view.app, body.count, user=caller.name, who=caller)


@router.get("/{container_id}/logs", response_class=StreamingResponse,
            responses={200: {"description": "The container's output. With `follow`, new output as it comes until "
                                            "the container stops, the stream is idle past the service's "
                                            "follow_idle_timeout, or the service stops.",
                             "content": {"text/plain": {"schema": {"type": "string"}}}},
                       429: {"description": "Too many follows open (per account or in all); see Retry-After."}})
async def container_logs(container_id: str, service: Service, caller: Caller, follow: bool = False,
                         tail: str = Query("all", pattern=r"^(all|\d+)$"), stdout: bool = True, stderr: bool = True):
    if tail.isdigit() and (len(tail) > len(str(MAX_LOG_TAIL)) or int(tail) > MAX_LOG_TAIL):
        raise UserInputError(f"must be 'all' or a number of lines up to {MAX_LOG_TAIL}", where="tail")
    lines: int | str = int(tail) if tail.isdigit() else tail

    def owned() -> list[str]:
        """Ownership (another account's container is not there: 404); the values of its app's secrets."""
        _, view = service.cluster.find(container_id, who=caller)
        return service.apps.secret_values(view.app)

    if not follow:
        def read() -> bytes:
            hide = owned()
            return service.cluster.ops.logs(container_id, tail=lines, stdout=stdout, stderr=stderr, hide=hide)
        return Response(await run_in_threadpool(read), media_type="text/plain")
    # the caps first (429), before any work for the engine; the engine's calls then run on the follows' pool
    streams = service.streams
    followed = streams.open(caller.name, "logs")

    def open_follow() -> LogFollow:
        hide = owned()
        return service.cluster.ops.follow_logs(container_id, tail=lines, stdout=stdout, stderr=stderr, hide=hide)
    chunks = await open_on_pool(streams, followed, open_follow)
    return FollowResponse(followed, blocking_chunks(streams, followed, chunks), media_type="text/plain")
