"""/api/engines: list, add by hand, inspect, remove."""

from __future__ import annotations

from fastapi import APIRouter, status

from ...store.records import Engine
from ...vocabulary import LOCAL_ENGINE, docker_url
from ..deps import Caller, Service
from ..models import EngineIn

router = APIRouter(prefix="/api/engines", tags=["engines"])


@router.get("")
def list_engines(service: Service, caller: Caller) -> list[dict]:
    return [h.to_dict() for h in sorted(service.cluster.engines.values(), key=lambda h: h.id)]


@router.post("", status_code=status.HTTP_201_CREATED)
def add_engine(body: EngineIn, service: Service, caller: Caller) -> dict:
    url = docker_url(body.address, body.port)
    record = Engine(id=body.id or body.address, address=body.address, docker_url=url, labels=body.labels,
                    cpus=body.cpus or 0.0, memory_mb=body.memory_mb or 0, tls=body.address != LOCAL_ENGINE,
                    source="manual")
    return service.cluster.add_engine(record, user=caller.name).to_dict()


@router.get("/{engine_id}")
def inspect_engine(engine_id: str, service: Service, caller: Caller) -> dict:
    return service.cluster.engine(engine_id).to_dict()


@router.delete("/{engine_id}")
def delete_engine(engine_id: str, service: Service, caller: Caller) -> dict:
    service.cluster.remove_engine(engine_id, user=caller.name)
    return {"deleted": engine_id}
