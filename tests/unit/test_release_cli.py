"""`apps history` and `rollback` on the client side: their routes (a mock transport) and the history table."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from rich.console import Console
from test_client import _no_user_config, api_with  # noqa: F401 - its autouse fixture: no user config here

from paasops.cli import render
from paasops.errors import NotFoundError
from paasops.results import DeployResult, ReleaseView

NOW = 1_700_000_000.0
ROWS = [{"app": "web", "release": "c3c3c3c3c3c3", "spec_hash": "1111222233334444", "image": "nginx:1", "count": 2,
         "user": "alice", "started_at": NOW, "finished_at": NOW + 4, "outcome": "active", "current": True,
         "rollback_to": "a1a1a1a1a1a1"},
        {"app": "web", "release": "b2b2b2b2b2b2", "spec_hash": "5555666677778888", "image": "nginx:2", "count": 2,
         "user": None, "started_at": 0, "outcome": "rolled-back", "why": "no host fits"}]


def test_history_is_a_get_of_the_apps_history():
    def handler(request):
        assert (request.method, request.url.path) == ("GET", "/api/apps/web/history")
        return httpx.Response(200, json=ROWS)

    rows = api_with(handler).app_history("web")
    assert [(r.release, r.outcome, r.current) for r in rows] == [("c3c3c3c3c3c3", "active", True),
                                                                 ("b2b2b2b2b2b2", "rolled-back", False)]


def test_rollback_streams_like_a_deploy_and_maps_its_errors():
    result = {"app": "web", "deployment": "d4", "spec_hash": "h", "count": 2}

    def handler(request):
        assert (request.method, request.url.path, request.url.params["stream"]) == \
            ("POST", "/api/apps/web/rollback", "true")
        if json.loads(request.content) == {"to": "zzzz"}:
            line = {"event": "error", "status": 404, "error": "to: app 'web' has no release 'zzzz'"}
            return httpx.Response(200, content=(json.dumps(line) + "\n").encode())
        assert json.loads(request.content) == {"to": None}
        lines = [{"event": "planned", "total": 2}, {"event": "result", "result": result}]
        return httpx.Response(200, content="".join(json.dumps(x) + "\n" for x in lines).encode())

    progress: list[dict] = []
    assert api_with(handler).rollback("web", on_progress=progress.append) == DeployResult(**result)
    assert [p["event"] for p in progress] == ["planned"]
    with pytest.raises(NotFoundError, match="no release 'zzzz'"):
        api_with(handler).rollback("web", "zzzz")


def test_history_table_marks_the_current_release_and_says_why():
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(render.history_table([ReleaseView(**r) for r in ROWS]))
    lines = [line.split() for line in console.file.getvalue().splitlines() if line.strip()]
    assert lines[0][:7] == ["RELEASE", "SPEC", "HASH", "IMAGE", "WHO", "WHEN", "COUNT"]
    assert lines[1][:3] == ["c3c3c3c3c3c3", "*", "111122223333"] and "alice" in lines[1]
    assert lines[1][-4:] == ["active", "rollback", "to", "a1a1a1a1a1a1"]
    assert lines[2][:5] == ["b2b2b2b2b2b2", "555566667777", "nginx:2", "-", "-"]
    assert lines[2][-5:] == ["2", "rolled-back", "no", "host", "fits"]
