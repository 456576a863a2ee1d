"""BodyGuard: bodies capped before they are read, callers authenticated before that."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from paasops.api.body_guard import BodyGuard, declared_length
from paasops.errors import AuthError, PayloadTooLarge, UserInputError

LIMIT = 1024
TOKEN = "alice:secret"


def make_client():
    seen: list[str] = []

    async def echo(request: Request):
        body = await request.body()
        seen.append(request.url.path)
        return JSONResponse({"read": len(body), "principal": getattr(request.state, "principal", None)})

    def authenticate(request: Request):
        if request.headers.get("x-access-token") != TOKEN:
            raise AuthError("no token")
        return "alice"

    app = Starlette(routes=[Route("/api/apps", echo, methods=["POST", "GET"]),
                            Route("/api/login", echo, methods=["POST"])])
    app.add_middleware(BodyGuard, max_body=LIMIT, authenticate=authenticate)
    return TestClient(app), seen


def test_a_body_declared_too_large_is_refused_unread_even_with_a_token():
    client, seen = make_client()
    answer = client.post("/api/apps", content=b"x" * (5 * 1024 * 1024), headers={"X-Access-Token": TOKEN})
    assert answer.status_code == 413 and answer.json()["type"] == "PayloadTooLarge"
    assert "larger than 1024 bytes" in answer.json()["error"]
    assert seen == []


def test_an_unauthenticated_post_is_refused_before_its_body_is_read():
    client, seen = make_client()
    assert client.post("/api/apps", content=b"{not json").status_code == 401
    assert client.post("/api/apps", content=b"x" * (5 * 1024 * 1024)).status_code == 413
    assert seen == []


def test_a_chunked_body_is_counted_as_it_is_read():
    client, seen = make_client()

    def chunks():
        for _ in range(8):
            yield b"y" * 512

    answer = client.post("/api/apps", content=chunks(), headers={"X-Access-Token": TOKEN})
    assert answer.status_code == 413
    assert seen == []  # the route never got the body


def test_within_the_cap_the_route_runs_once_authenticated():
    client, seen = make_client()
    answer = client.post("/api/apps", content=b"x" * LIMIT, headers={"X-Access-Token": TOKEN})
    assert answer.json() == {"read": LIMIT, "principal": "alice"}
    assert client.post("/api/login", content=b"{}").json()["principal"] is None  # public: not authenticated
    assert client.get("/api/apps").status_code == 200  # no body: the route's own dependency decides
    assert seen == ["/api/apps", "/api/login", "/api/apps"]


@pytest.mark.parametrize("value, error", [("12", None), (str(LIMIT + 1), PayloadTooLarge), ("-1", UserInputError),
                                          ("1e9", UserInputError)])
def test_declared_length(value, error):
    from starlette.datastructures import Headers

    headers = Headers({"content-length": value})
    if error is None:
        assert declared_length(headers, LIMIT) == 12
    else:
        with pytest.raises(error):
            declared_length(headers, LIMIT)


def test_an_app_that_swallows_the_read_error_still_answers_413():
    async def swallowing(request: Request):  # what FastAPI does: a failed read becomes its own 400
        try:
            await request.body()
        except Exception:
            return JSONResponse({"detail": "There was an error parsing the body"}, status_code=400)
        return JSONResponse({})

    app = Starlette(routes=[Route("/api/apps", swallowing, methods=["POST"])])
    app.add_middleware(BodyGuard, max_body=LIMIT, authenticate=lambda request: "alice")
    answer = TestClient(app).post("/api/apps", content=(b"z" * 512 for _ in range(4)))
    assert answer.status_code == 413 and answer.json()["type"] == "PayloadTooLarge"
