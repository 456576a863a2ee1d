"""ASGI middleware: a request body is capped before it is read, and its sender authenticated before that."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import PaasopsError, PayloadTooLarge, RateLimited, UserInputError
from .errors import error_body

# Routes anyone may call: their bodies are capped, never authenticated.
PUBLIC_PATHS = frozenset({"/api/login", "/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body larger than {limit} bytes (the service's PAASOPS_MAX_REQUEST_BODY)",
                           where="body")


def declared_length(headers: Headers, limit: int) -> int | None:
    """The Content-Length, refused when it is over `limit` or not a number (None: none declared)."""
    raw = headers.get("content-length")
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise UserInputError(f"Content-Length {raw[:40]!r} is not a byte count", where="body")
    if int(raw) > limit:
        raise too_large(limit)
    return int(raw)


class _Overflow(Exception):
    """The body read so far passed the limit (a body sent without, or beyond, its Content-Length)."""


class BodyGuard:
    """Before the app reads a body: refuse one declared over `max_body` (413), authenticate the caller of a
    non-public route that may carry one (401/403/429), then count what is actually read (413 past the cap)."""

    def __init__(self, app: ASGIApp, *, max_body: int, authenticate: Callable[[Request], Any] | None = None):
        self.app = app
        self.max_body = max_body
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            declared_length(Headers(scope=scope), self.max_body)
            if self.authenticate is not None and scope["method"] in BODY_METHODS \
                    and scope["path"] not in PUBLIC_PATHS:
                request = Request(scope)
                # the route's own dependency reuses it: the token is checked once per request
                request.state.principal = await run_in_threadpool(self.authenticate, request)
        except PaasopsError as exc:
            return await refuse(exc, scope, receive, send)
        started = overflowed = False
        read = 0

        async def counted_receive() -> Message:
            nonlocal read, overflowed
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > self.max_body:
                    overflowed = True
                    raise _Overflow
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if overflowed and not started:  # the app's answer to a body it could not read (FastAPI: 400)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _Overflow:
            if started:  # an answer is under way: nothing clean left to say
                raise
        if overflowed and not started:
            await refuse(too_large(self.max_body), scope, receive, send)


async def refuse(exc: PaasopsError, scope: Scope, receive: Receive, send: Send) -> None:
    headers = {"Connection": "close"}  # the unread body is not drained: the connection is not reused
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    await JSONResponse(error_body(exc), status_code=exc.http_status, headers=headers)(scope, receive, send)
