"""One handler mapping the error hierarchy (and bad payloads) to HTTP statuses and a JSON body."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..errors import ConflictError, PaasopsError, RateLimited


def error_body(exc: PaasopsError) -> dict:
    body: dict[str, Any] = {"error": str(exc), "type": type(exc).__name__}
    if isinstance(exc, ConflictError) and "ambiguous" in str(exc):
        body["candidates"] = [part.split(" ")[0] for part in str(exc).split(": ", 2)[-1].split(", ")]
    return body


def install(app: FastAPI) -> None:
    @app.exception_handler(PaasopsError)
    async def paasops_error(_: Request, exc: PaasopsError):
        headers = None
        if isinstance(exc, RateLimited):  # whole seconds, rounded up, so a client never comes back too early
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
        return JSONResponse(error_body(exc), status_code=exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def bad_payload(_: Request, exc: RequestValidationError):
        problems = ["{}: {}".format(".".join(str(p) for p in e["loc"] if p != "body") or "body", e["msg"])
                    for e in exc.errors()]
        return JSONResponse({"error": "; ".join(problems), "type": "UserInputError"}, status_code=400)
