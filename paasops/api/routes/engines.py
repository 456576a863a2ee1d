"""/api/engines: list, add by hand, inspect, remove (and keep removed), admit again, drain, cordon and undrain."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import StreamingResponse

from ...results import CordonResult, DrainResult, EngineAdmitted, EngineDeleted, EngineView, UndrainResult
from ...service.drain import HostDrain
from ...service.registration import manual_engine
from ..deps import Caller, Service
from ..models import EngineIn
from ..streams import progress_lines

router = APIRouter(prefix="/api/engines", tags=["engines"])


@router.get("", response_model=list[EngineView])
def list_engines(service: Service, caller: Caller) -> list[EngineView]:
    return [h.view() for h in sorted(service.cluster.engines.values(), key=lambda h: h.id)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=EngineView)
def add_engine(body: EngineIn, service: Service, caller: Caller) -> EngineView:
    record = manual_engine(body.address, engine_id=body.id, port=body.port, tls=body.tls,
                           insecure_tcp=body.insecure_tcp, labels=body.labels, cpus=body.cpus or 0.0,
                           memory_mb=body.memory_mb or 0, role=caller.role, user=caller.name)
    return service.admission.add_by_hand(record, caller.name).view()


@router.get("/{engine_id}", response_model=EngineView)
def inspect_engine(engine_id: str, service: Service, caller: Caller) -> EngineView:
    return service.cluster.engine(engine_id).view()


@router.delete("/{engine_id}", response_model=EngineDeleted)
def delete_engine(engine_id: str, service: Service, caller: Caller) -> EngineDeleted:
    """Remove an engine and its etcd key; it stays out until bootstrapped again or admitted."""
    service.admission.deny(engine_id, caller.name)
    return EngineDeleted(deleted=engine_id)


@router.post("/{engine_id}/admit", response_model=EngineAdmitted)
def admit_engine(engine_id: str, service: Service, caller: Caller) -> EngineAdmitted:
    """Let a removed engine back (admins: the ACL gives `user` GET only); its cert is checked as ever."""
    current = service.admission.admit(engine_id, caller.name)
    return EngineAdmitted(admitted=engine_id, registered=current is not None)


@router.post("/{engine_id}/drain", response_model=DrainResult,
             responses={200: {"description": "With `stream=true`: `{\"event\": \"step\", \"line\": ...}` "
                                             "progress lines, then the result (or an error), one JSON object a line.",
                              "content": {"application/x-ndjson": {"schema": {"type": "object"}}}}})
def drain_engine(engine_id: str, service: Service, caller: Caller, stream: bool = False):
    """Make the engine unschedulable (admins: the ACL gives `user` GET only) and move its replicas elsewhere,
    start-first; 409 and nothing changed when the other engines cannot hold them."""
    drain = HostDrain(service.apps)
    if not stream:
        return drain.drain(engine_id, user=caller.name)
    service.cluster.engine(engine_id)  # an unknown engine: a plain 404, not a stream
    return StreamingResponse(progress_lines(lambda progress: drain.drain(
        engine_id, user=caller.name, progress=lambda line: progress({"event": "step", "line": line}))),
        media_type="application/x-ndjson")


@router.post("/{engine_id}/cordon", response_model=CordonResult)
def cordon_engine(engine_id: str, service: Service, caller: Caller) -> CordonResult:
    """Make the engine unschedulable and move nothing (admins: the ACL gives `user` GET only); `undrain` lifts
    it. `paasops patch --serial N` cordons a batch's hosts before draining them one by one."""
    return HostDrain(service.apps).cordon(engine_id, user=caller.name)


@router.post("/{engine_id}/undrain", response_model=UndrainResult)
def undrain_engine(engine_id: str, service: Service, caller: Caller) -> UndrainResult:
    """Let a drained engine take placements again (a no-op, said so, if it was not drained)."""
    return HostDrain(service.apps).undrain(engine_id, user=caller.name)
