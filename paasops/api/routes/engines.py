"""/api/engines: list, add by hand, inspect, remove."""

from __future__ import annotations

from fastapi import APIRouter, status

from ...results import EngineDeleted, EngineView
from ...service.registration import manual_engine
from ..deps import Caller, Service
from ..models import EngineIn

router = APIRouter(prefix="/api/engines", tags=["engines"])


@router.get("", response_model=list[EngineView])
def list_engines(service: Service, caller: Caller) -> list[EngineView]:
    return [h.view() for h in sorted(service.cluster.engines.values(), key=lambda h: h.id)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=EngineView)
def add_engine(body: EngineIn, service: Service, caller: Caller) -> EngineView:
    record = manual_engine(body.address, engine_id=body.id, port=body.port, tls=body.tls,
                           insecure_tcp=body.insecure_tcp, labels=body.labels, cpus=body.cpus or 0.0,
                           memory_mb=body.memory_mb or 0, role=caller.role, user=caller.name)
    return service.cluster.add_engine(record, user=caller.name).view()


@router.get("/{engine_id}", response_model=EngineView)
def inspect_engine(engine_id: str, service: Service, caller: Caller) -> EngineView:
    return service.cluster.engine(engine_id).view()


@router.delete("/{engine_id}", response_model=EngineDeleted)
def delete_engine(engine_id: str, service: Service, caller: Caller) -> EngineDeleted:
    service.cluster.remove_engine(engine_id, user=caller.name)
    return EngineDeleted(deleted=engine_id)
