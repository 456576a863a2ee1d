"""Follow responses: async streams whose blocking reads run on the follows' own pool, under the caps and timeouts."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ..errors import PaasopsError
from ..service.streams import Follow, Streams
from .errors import error_body

T = TypeVar("T")


async def on_pool(streams: Streams, work: Callable[[], T]) -> T:
    """`work()` on the follows' pool (for a follow that holds its place already)."""
    return await asyncio.wrap_future(streams.pool.submit(work))


class Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Closable)


async def open_on_pool(streams: Streams, follow: Follow, work: Callable[[], C]) -> C:
    """`work()` (opening an engine's stream) on the follows' pool, so a slow engine never takes a slot of
    the API's threadpool; what it opens is closed when the follow ends. On failure the follow closes
    (and a stream that opens after its client left is closed at once)."""
    future = streams.pool.submit(work)
    try:
        opened = await asyncio.wrap_future(future)
    except BaseException:
        future.add_done_callback(_close_result)
        follow.close()
        raise
    follow.on_end(opened.close)
    return opened


def _close_result(future: Future) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().close()


async def blocking_chunks(streams: Streams, follow: Follow, chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """The chunks of a blocking iterator (a Docker log stream), one read at a time on the pool, until it
    ends, the follow is ended (shutdown), or its idle timeout or lifetime passes; then the follow closes,
    which closes the iterator's connection and so frees a read blocked on a quiet container."""
    loop = asyncio.get_running_loop()
    try:
        while not follow.ended.is_set():
            budget = follow.wait_budget()
            if budget is not None and budget <= 0:
                return
            read = loop.run_in_executor(streams.pool, next, chunks, None)
            try:
                chunk = await asyncio.wait_for(read, budget)
            except TimeoutError:  # idle too long (or lived too long): end; the client may ask again
                return
            except Exception:  # noqa: BLE001 - the engine's stream broke or was closed: it ends
                return
            if chunk is None:
                return
            follow.output()
            yield chunk
    finally:
        follow.close()


class FollowResponse(StreamingResponse):
    """A streaming response that closes its follow however the response ends (a client gone before the
    first chunk never runs the body's own cleanup)."""

    def __init__(self, follow: Follow, content: AsyncIterator[bytes], **kwargs: Any):
        super().__init__(content, **kwargs)
        self.follow = follow

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.follow.close()


def progress_lines(work: Callable[[Callable[[Any], None]], Any], name: str = "api-progress") -> Iterator[bytes]:
    """Run work(progress) in a thread; yield each progress event, then the result, as NDJSON lines
    (`{"event": "result", "result": ...}` or `{"event": "error", "status": ..., ...}` last). A deploy and a
    drain answer `stream=true` with it."""
    lines: queue.Queue = queue.Queue()

    def run():
        try:
            lines.put({"event": "result", "result": work(lines.put).model_dump(mode="json")})
        except PaasopsError as exc:
            lines.put({"event": "error", "status": exc.http_status, **error_body(exc)})
        except Exception as exc:  # reported to the client rather than dropping the stream
            lines.put({"event": "error", "status": 500, "error": f"{type(exc).__name__}: {exc}"})
        lines.put(None)

    threading.Thread(target=run, daemon=True, name=name).start()
    while (item := lines.get()) is not None:
        yield (json.dumps(item) + "\n").encode()
