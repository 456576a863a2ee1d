"""Follow bodies over a blocking source that only close() frees (a quiet container's Docker stream), no I/O."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from paasops.api.streams import blocking_chunks, open_on_pool
from paasops.errors import NotFoundError
from paasops.service.stream_limits import StreamPolicy
from paasops.service.streams import Streams


class QuietSource:
    """Hands out `chunks`, then blocks, as a read on a quiet container does, until closed."""

    def __init__(self, *chunks: bytes):
        self.chunks = list(chunks)
        self.closed = threading.Event()

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        if self.chunks:
            return self.chunks.pop(0)
        self.closed.wait()
        raise StopIteration

    def close(self) -> None:
        self.closed.set()


async def collect(streams: Streams, source: QuietSource, *, end_after: float | None = None) -> list[bytes]:
    follow = streams.open("alice", "logs")
    opened = await open_on_pool(streams, follow, lambda: source)
    if end_after is not None:
        threading.Timer(end_after, follow.end).start()  # as SIGTERM's end_all does, from another thread
    return [chunk async for chunk in blocking_chunks(streams, follow, opened)]


def test_the_idle_timeout_ends_a_quiet_follow_closes_its_source_and_frees_its_place():
    streams = Streams(StreamPolicy(per_account=1, idle_timeout=0.3))
    source = QuietSource(b"a\n", b"b\n")
    began = time.monotonic()
    assert asyncio.run(collect(streams, source)) == [b"a\n", b"b\n"]
    assert 0.25 < time.monotonic() - began < 2
    assert source.closed.is_set() and streams.limiter.total == 0


def test_ending_the_follow_frees_a_read_blocked_on_a_quiet_source():
    streams = Streams(StreamPolicy(idle_timeout=0))  # no idle timeout: only the end can stop it
    source = QuietSource(b"x")
    began = time.monotonic()
    assert asyncio.run(collect(streams, source, end_after=0.2)) == [b"x"]
    assert time.monotonic() - began < 2 and source.closed.is_set() and streams.open_count == 0


def test_a_cancelled_follow_closes_its_source():
    streams = Streams(StreamPolicy(idle_timeout=0))
    source = QuietSource()

    async def go():
        task = asyncio.create_task(collect(streams, source))
        await asyncio.sleep(0.2)
        task.cancel()  # the client went away: Starlette cancels the body
        with pytest.raises(asyncio.CancelledError):
            await task
        assert source.closed.is_set() and streams.limiter.total == 0  # at once, not when the loop ends

    asyncio.run(go())


def test_a_failed_open_gives_the_place_back():
    streams = Streams(StreamPolicy(per_account=1))

    def missing():
        raise NotFoundError("no container 'x'", where="containers")

    async def go():
        follow = streams.open("alice", "logs")
        with pytest.raises(NotFoundError):
            await open_on_pool(streams, follow, missing)

    asyncio.run(go())
    assert streams.limiter.total == 0
    streams.open("alice", "logs")  # the one place is free
