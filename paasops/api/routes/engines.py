"""/api/engines: list, add by hand, inspect, remove."""

from __future__ import annotations

from fastapi import APIRouter, status

from ...engines.client import LOCAL
from ...results import EngineDeleted, EngineView
from ...store.records import Engine
from ..deps import Caller, Service
from ..models import EngineIn

router = APIRouter(prefix="/api/engines", tags=["engines"])


@router.get("", response_model=list[EngineView])
def list_engines(service: Service, caller: Caller) -> list[EngineView]:
    return [h.view() for h in sorted(service.cluster.engines.values(), key=lambda h: h.id)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=EngineView)
def add_engine(body: EngineIn, service: Service, caller: Caller) -> EngineView:
    url = "unix:///var/run/docker.sock" if body.address == LOCAL else f"https://{body.address}:{body.port}"
    record = Engine(id=body.id or body.address, address=body.address, docker_url=url, labels=body.labels,
                    cpus=body.cpus or 0.0, memory_mb=body.memory_mb or 0, tls=body.address != LOCAL,
                    source="manual")
    return service.cluster.add_engine(record, user=caller.name).view()


@router.get("/{engine_id}", response_model=EngineView)
def inspect_engine(engine_id: str, service: Service, caller: Caller) -> EngineView:
    return service.cluster.engine(engine_id).view()


@router.delete("/{engine_id}", response_model=EngineDeleted)
def delete_engine(engine_id: str, service: Service, caller: Caller) -> EngineDeleted:
    service.cluster.remove_engine(engine_id, user=caller.name)
    return EngineDeleted(deleted=engine_id)
