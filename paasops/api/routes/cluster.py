"""/api/cluster/info, /api/events (and POST: an admin client's own events) and /api/events/stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from ...errors import ForbiddenError, UserInputError
from ...results import ClusterInfo, EventView
from ...service.event_log import event_filter, events_for
from ...service.event_stream import EventHub, Subscriber
from ...service.streams import Follow
from ...store.records import Event
from ...vocabulary import ADMIN_ROLE, CLIENT_EVENT_TYPES
from ..deps import Caller, Service
from ..models import EventIn
from ..streams import FollowResponse, on_pool, open_on_pool

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


@router.post("/events", status_code=201, response_model=EventView)
def record_event(body: EventIn, service: Service, caller: Caller) -> EventView:
    """Record what a client did (admins only, whatever a role's ACL says; types: `paasops patch`'s steps)."""
    if caller.role != ADMIN_ROLE:
        raise ForbiddenError("only admins record events", where="POST /api/events")
    if body.type not in CLIENT_EVENT_TYPES:
        raise UserInputError(f"a client may not record {body.type!r} events (only: {', '.join(CLIENT_EVENT_TYPES)})",
                             where="type")
    event = service.cluster.record(body.type, tag="cli", user=caller.name, host=body.host, message=body.message,
                                   data=body.data)
    return EventView(**asdict(event))


@router.get("/events/stream", response_class=StreamingResponse,
            responses={200: NDJSON_EVENTS,
                       429: {"description": "Too many follows open (per account or in all); see Retry-After."}})
async def events_stream(service: Service, caller: Caller, type: str | None = None, tag: str | None = None,
                        app: str | None = None, host: str | None = None,
                        since: float | None = None) -> StreamingResponse:
    """New events as they are stored (the service's one feed of the store, shared by every stream);
    with `since`, the stored events from then first. The same filters as GET /api/events. The stream
    ends after the service's follow_idle_timeout without an event (the client reconnects with `since`)."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[Event | None] = asyncio.Queue()

    seen = event_filter(service.store, caller)

    def deliver(event: Event) -> None:  # on the hub's thread
        if seen(event):
            loop.call_soon_threadsafe(_offer, lines, event)

    def end() -> None:  # the service shuts down
        loop.call_soon_threadsafe(lines.put_nowait, None)

    streams = service.streams
    followed = streams.open(caller.name, "events")  # the caps (429) before any work
    followed.on_end(end)
    filters = {"type": type, "tag": tag, "app": app, "host": host}
    await open_on_pool(streams, followed, lambda: _Subscription(
        service.event_hub, service.event_hub.subscribe(deliver, filters, end=end)))
    try:
        backlog = [] if since is None else await on_pool(streams, lambda: events_for(
            service.store, caller, type=type, tag=tag, app=app, host=host, since=since, limit=None))
    except BaseException:
        followed.close()
        raise
    return FollowResponse(followed, _lines(followed, backlog, lines), media_type="application/x-ndjson")


class _Subscription:
    """A subscriber of the event hub, unsubscribed when its follow ends."""

    def __init__(self, hub: EventHub, subscriber: Subscriber):
        self.hub, self.subscriber = hub, subscriber

    def close(self) -> None:
        self.hub.unsubscribe(self.subscriber)


def _offer(lines: asyncio.Queue, event: Event) -> None:
    if lines.qsize() >= STREAM_BUFFER:  # the client does not read: end its stream (it may reconnect)
        lines.put_nowait(None)
    else:
        lines.put_nowait(event)


async def _lines(followed: Follow, backlog: list[Event], lines: asyncio.Queue) -> AsyncIterator[bytes]:
    sent: set[str] = set()
    try:
        for event in reversed(backlog):  # oldest first
            sent.add(event.id)
            yield _line(event)
        while not followed.ended.is_set():
            budget = followed.wait_budget()
            if budget is not None and budget <= 0:  # idle (or lived) too long: end; the client reconnects
                return
            try:
                event = await asyncio.wait_for(lines.get(), KEEPALIVE if budget is None else min(KEEPALIVE, budget))
            except TimeoutError:
                yield b"\n"
                continue
            if event is None:
                return
            if event.id in sent:  # the backlog and the feed overlap by the time the backlog took
                sent.discard(event.id)
                continue
            followed.output()
            yield _line(event)
    finally:
        followed.close()


def _line(event: Event) -> bytes:
    return json.dumps(EventView(**asdict(event)).model_dump(mode="json")).encode() + b"\n"
