"""The API client against a mock transport: routes, error mapping, the deploy stream, server and token lookup."""

from __future__ import annotations

import json

import httpx
import pytest

from paasops import client as client_mod
from paasops.client import ApiClient, error_for, resolve_server
from paasops.errors import (
    AuthError,
    ConflictError,
    ConnectionFailed,
    ForbiddenError,
    NotFoundError,
    PaasopsError,
    PlacementError,
    RateLimited,
    SpecError,
    UserInputError,
)
from paasops.results import ContainerGone, DeployResult, DryRunPlan, EngineView

SCALED = {"app": "hello", "deployment": "d1", "spec_hash": "h", "count": 3, "before": 1, "running": 3,
          "replicas": [], "removed": [], "ok": True}
# What each route answers (enough of it for the result models).
ANSWERS = {"/api/containers": [], "/api/events": [], "/api/engines": {"id": "n1", "address": "10.0.0.5"},
           "/api/apps/hello/scale": SCALED, "/api/containers/abc/../x/stop": {"id": "abc/../x", "state": "gone"}}


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path, monkeypatch):
    monkeypatch.setattr(client_mod, "config_dir", lambda: tmp_path)
    monkeypatch.delenv("PAASOPS_SERVER", raising=False)


def api_with(handler) -> ApiClient:
    return ApiClient("http://paasops.test", transport=httpx.MockTransport(handler))


@pytest.mark.parametrize("status, body, cls", [
    (400, {"error": "count: must be >= 0", "type": "UserInputError"}, UserInputError),
    (400, {"error": "spec: image: is required", "type": "SpecError"}, SpecError),
    (422, {"detail": "x"}, UserInputError),
    (401, {"error": "missing token", "type": "AuthError"}, AuthError),
    (403, {"error": "role user may not", "type": "ForbiddenError"}, ForbiddenError),
    (404, {"error": "containers: no container 'x'", "type": "NotFoundError"}, NotFoundError),
    (409, {"error": "ambiguous", "type": "ConflictError", "candidates": ["abc1", "abc2"]}, ConflictError),
    (409, {"error": "hello: no host can take replica 1", "type": "PlacementError"}, PlacementError),
    (502, {"error": "engine lab1: unreachable", "type": "ConnectionFailed"}, ConnectionFailed),
    (500, {"error": "boom", "type": "NoSuchError"}, PaasopsError),
    (404, {"error": "x", "type": "ConflictError"}, NotFoundError),  # a named type must fit the status
])
def test_error_for_maps_status_and_named_type(status, body, cls):
    err = error_for(status, body)
    assert type(err) is cls
    assert str(err) == body.get("error", "x") or body.get("detail")
    assert err.status == status


def test_error_keeps_candidates_and_exit_codes():
    err = error_for(409, {"error": "containers: id prefix 'abc' is ambiguous: abc1 (a on l), abc2 (b on l)",
                          "type": "ConflictError", "candidates": ["abc1", "abc2"]})
    assert err.candidates == ["abc1", "abc2"] and err.exit_code == 2
    assert error_for(404, None, "Not Found").exit_code == 3
    assert str(error_for(404, None, "Not Found")) == "Not Found"


def test_routes_params_and_body():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, dict(request.url.params),
                     json.loads(request.content) if request.content else None, request.url.raw_path))
        return httpx.Response(200, json=ANSWERS[request.url.path])

    api = api_with(handler)
    assert api.containers(all=False, app="hello") == []
    assert api.events(type="die", since=12.5, limit=3) == []
    assert api.add_engine("10.0.0.5", id="n1", labels={"zone": "a"}, cpus=2) == EngineView(id="n1",
                                                                                            address="10.0.0.5")
    assert api.scale_app("hello", 3) == DeployResult(**SCALED)
    assert api.stop("abc/../x") == ContainerGone(id="abc/../x")
    assert seen[0][:4] == ("GET", "/api/containers", {"all": "false", "app": "hello"}, None)
    assert seen[1][:4] == ("GET", "/api/events", {"type": "die", "since": "12.5", "limit": "3"}, None)
    assert seen[2][:2] == ("POST", "/api/engines")
    assert seen[2][3] == {"address": "10.0.0.5", "id": "n1", "port": 2376, "labels": {"zone": "a"}, "cpus": 2,
                          "memory_mb": None, "tls": True, "insecure_tcp": False}
    assert seen[3][:4] == ("POST", "/api/apps/hello/scale", {}, {"count": 3})
    assert seen[4][4] == b"/api/containers/abc%2F..%2Fx/stop"  # an id never changes the route


def test_deploy_reads_the_ndjson_stream():
    lines = [{"event": "planned", "total": 2, "hosts": {"local": 2}},
             {"event": "running", "index": 1, "host": "local"},
             {"event": "running", "index": 2, "host": "local"},
             {"event": "result", "result": {"app": "hello", "deployment": "d1", "spec_hash": "h", "count": 2}}]

    def handler(request):
        assert request.url.params["stream"] == "true"
        assert json.loads(request.content) == {"spec": {"name": "hello"}, "count": 2, "dry_run": False}
        return httpx.Response(200, content="".join(json.dumps(x) + "\n" for x in lines).encode())

    progress = []
    assert api_with(handler).deploy({"name": "hello"}, 2, on_progress=progress.append) == \
        DeployResult(app="hello", deployment="d1", spec_hash="h", count=2)
    assert [p["event"] for p in progress] == ["planned", "running", "running"]


def test_deploy_stream_error_and_truncation():
    def failing(request):
        body = json.dumps({"event": "error", "status": 409, "error": "hello: no host", "type": "PlacementError"})
        return httpx.Response(200, content=(body + "\n").encode())

    with pytest.raises(PlacementError, match="hello: no host"):
        api_with(failing).deploy({"name": "hello"}, 1)

    def cut(request):
        return httpx.Response(200, content=b'{"event": "planned", "total": 1}\n')

    with pytest.raises(ConnectionFailed, match="ended without a result"):
        api_with(cut).deploy({"name": "hello"}, 1)


def test_dry_run_is_a_plain_post():
    def handler(request):
        assert "stream" not in request.url.params
        return httpx.Response(200, json={"app": "hello", "count": 1, "dry_run": True, "strategy": "thesis",
                                         "plan": []})

    planned = api_with(handler).plan({"name": "hello"}, 1)
    assert isinstance(planned, DryRunPlan) and planned.dry_run is True


def test_an_answer_of_another_shape_is_a_clear_error():
    def handler(request):
        return httpx.Response(200, json={"engines": "many"})

    with pytest.raises(ConnectionFailed, match="answered an unexpected shape"):
        api_with(handler).cluster_info()


def test_errors_from_streamed_routes():
    def handler(request):
        return httpx.Response(404, json={"error": "containers: no container 'x'", "type": "NotFoundError"})

    with pytest.raises(NotFoundError, match="no container 'x'"):
        list(api_with(handler).logs("x"))


def test_unreachable_service_says_how_to_fix_it():
    def handler(request):
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ConnectionFailed) as info:
        api_with(handler).cluster_info()
    assert str(info.value) == "paasops service not reachable at http://paasops.test: is `paasops serve` running?"
    assert info.value.exit_code == 5


def test_real_refused_port():
    api = ApiClient("http://127.0.0.1:9", timeout=2)
    with pytest.raises(ConnectionFailed, match=r"not reachable at http://127.0.0.1:9: is `paasops serve`"):
        api.engines()


def test_server_lookup_order(tmp_path, monkeypatch):
    assert resolve_server() == "http://127.0.0.1:5002"
    (tmp_path / "config.toml").write_text('server = "https://paas.example:5002/"\n')
    assert resolve_server() == "https://paas.example:5002"
    monkeypatch.setenv("PAASOPS_SERVER", "http://10.0.0.1:5002")
    assert resolve_server() == "http://10.0.0.1:5002"
    assert resolve_server("http://x:1/") == "http://x:1"
    (tmp_path / "config.toml").write_text("server = [\n")
    monkeypatch.delenv("PAASOPS_SERVER")
    with pytest.raises(UserInputError, match="config.toml: cannot read"):
        resolve_server()


def test_token_is_sent_as_bearer(tmp_path):
    (tmp_path / "token").write_text("alice:s3cret\n")
    (tmp_path / "token").chmod(0o600)

    def handler(request):
        return httpx.Response(200, json={"id": str(request.headers.get("authorization"))})

    assert api_with(handler).engine("n1").id == "Bearer alice:s3cret"
    (tmp_path / "token").unlink()
    assert api_with(handler).engine("n1").id == "None"


def test_a_broken_connection_is_not_called_unreachable():
    def handler(request):
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)

    with pytest.raises(ConnectionFailed, match=r"broke the connection \(RemoteProtocolError: Server disconnected"
                                               r".*if it serves HTTPS, use an https:// address"):
        api_with(handler).engines()


def test_a_refused_follow_says_when_to_come_back():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "5"},
                              json={"error": "logs: account dave already has 8 streams open (at most 8 per account): "
                                             "end one first", "type": "RateLimited"})

    with pytest.raises(RateLimited) as refused:
        list(api_with(handler).logs("abc", follow=True))
    assert str(refused.value) == ("logs: account dave already has 8 streams open (at most 8 per account): end one "
                                  "first (try again in 5 s)")
    assert refused.value.retry_after == 5 and refused.value.exit_code == 4
