"""/api/cluster/info, /api/events and /api/events/stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from ...results import ClusterInfo, EventView
from ...service.event_log import event_filter, events_for
from ...store.records import Event
from ..deps import Caller, Service

router = APIRouter(prefix="/api", tags=["cluster"])
KEEPALIVE = 10.0  # seconds of quiet after which a stream sends an empty line (finds gone clients)
STREAM_BUFFER = 10000  # events a slow client may lag behind before its stream is ended
NDJSON_EVENTS = {"description": "Events as they are stored, one JSON object (an EventView) a line, oldest "
                                "first; empty lines keep the connection alive.",
                 "content": {"application/x-ndjson": {"schema": {"$ref": "#/components/schemas/EventView"}}}}


@router.get("/cluster/info", response_model=ClusterInfo)
def cluster_info(service: Service, caller: Caller) -> ClusterInfo:
    return service.cluster.info()


@router.get("/events", response_model=list[EventView])
def events(service: Service, caller: Caller, type: str | None = None, tag: str | None = None,
           app: str | None = None, host: str | None = None, since: float | None = None,
           until: float | None = None, limit: int = Query(100, ge=1, le=10000)) -> list[EventView]:
    found = events_for(service.store, caller, type=type, tag=tag, app=app, host=host, since=since, until=until,
                       limit=limit)  # a `user` sees the events of its apps and its own doings (auth.ownership)
    return [EventView(**asdict(e)) for e in found]


@router.get("/events/stream", response_class=StreamingResponse, responses={200: NDJSON_EVENTS})
async def events_stream(service: Service, caller: Caller, type: str | None = None, tag: str | None = None,
                        app: str | None = None, host: str | None = None,
                        since: float | None = None) -> StreamingResponse:
    """New events as they are stored (the service's one feed of the store, shared by every stream);
    with `since`, the stored events from then first. The same filters as GET /api/events."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[Event | None] = asyncio.Queue()

    seen = event_filter(service.store, caller)

    def deliver(event: Event) -> None:  # on the hub's thread
        if seen(event):
            loop.call_soon_threadsafe(_offer, lines, event)

    def end() -> None:  # the service shuts down
        loop.call_soon_threadsafe(lines.put_nowait, None)

    filters = {"type": type, "tag": tag, "app": app, "host": host}
    subscriber = await run_in_threadpool(lambda: service.event_hub.subscribe(deliver, filters, end=end))
    try:
        backlog = [] if since is None else await run_in_threadpool(
            lambda: events_for(service.store, caller, type=type, tag=tag, app=app, host=host, since=since,
                               limit=None))
    except BaseException:
        service.event_hub.unsubscribe(subscriber)
        raise
    return StreamingResponse(_lines(service, subscriber, backlog, lines), media_type="application/x-ndjson")


def _offer(lines: asyncio.Queue, event: Event) -> None:
    if lines.qsize() >= STREAM_BUFFER:  # the client does not read: end its stream (it may reconnect)
        lines.put_nowait(None)
    else:
        lines.put_nowait(event)


async def _lines(service, subscriber, backlog: list[Event], lines: asyncio.Queue) -> AsyncIterator[bytes]:
    sent: set[str] = set()
    try:
        for event in reversed(backlog):  # oldest first
            sent.add(event.id)
            yield _line(event)
        while True:
            try:
                event = await asyncio.wait_for(lines.get(), KEEPALIVE)
            except TimeoutError:
                yield b"\n"
                continue
            if event is None:
                return
            if event.id in sent:  # the backlog and the feed overlap by the time the backlog took
                sent.discard(event.id)
                continue
            yield _line(event)
    finally:
        service.event_hub.unsubscribe(subscriber)


def _line(event: Event) -> bytes:
    return json.dumps(EventView(**asdict(event)).model_dump(mode="json")).encode() + b"\n"
