"""`paasops routes`, the report's routes and `apps inspect` rendered from sample API answers."""

from __future__ import annotations

import io

from pydantic import TypeAdapter
from rich.console import Console

from paasops.cli import render
from paasops.cli.report_html import render as render_html
from paasops.results import AppView, Report, RouteView

ROUTES = [
    {"app": "hello", "mode": "http", "hostnames": ["hello.example.test"], "path": "/", "https_redirect": True,
     "revision": 42, "urls": ["http://hello.example.test/"],
     "backends": [{"id": "aaaaaaaaaaaa", "name": "hello-1", "address": "10.0.0.1", "port": 32768, "state": "ready"},
                  {"id": "bbbbbbbbbbbb", "name": "hello-2", "address": "10.0.0.2", "port": 32769, "state": "drain"}],
     "edges": [{"engine": "lab1", "status": "up", "revision": 42, "lag": 0, "current": True,
                "serving": {"aaaaaaaaaaaa": "ready", "bbbbbbbbbbbb": "drain"}},
               {"engine": "lab2", "status": "up", "revision": 40, "lag": 2, "current": False, "error": "reload failed",
                "serving": {"aaaaaaaaaaaa": "ready"}}]},
    {"app": "db", "mode": "tcp", "tcp_port": 15432, "urls": ["tcp://10.0.0.1:15432"], "backends": [], "edges": []},
]


def text(renderable) -> str:
    console = Console(width=220, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def rows(renderable) -> list[list[str]]:
    return [line.split() for line in text(renderable).splitlines() if line.strip()]


def test_routes_view_lists_backends_with_each_edges_state_then_the_edges():
    routes = TypeAdapter(list[RouteView]).validate_python(ROUTES)
    got = rows(render.routes_view(routes))
    assert got[0] == ["APP", "ROUTE", "BACKEND", "ADDRESS", "STATE", "EDGES"]
    assert got[1] == ["hello", "hello.example.test/", "→https", "hello-1", "10.0.0.1:32768", "ready", "lab1:ready,",
                      "lab2:ready"]
    assert got[2] == ["hello-2", "10.0.0.2:32769", "drain", "lab1:drain,", "lab2:-"]
    assert got[3] == ["db", "tcp", ":15432", "-", "no", "backend"]
    assert got[4] == ["EDGE", "HOST", "REVISION", "BEHIND", "ERROR"]
    assert got[5:7] == [["lab1", "up", "42", "0"], ["lab2", "up", "40", "2", "reload", "failed"]]
    assert "no app is exposed" in text(render.routes_view([]))


def test_the_report_shows_routes_in_text_and_html():
    from paasops.cli.commands.ops import report_view

    report = Report.model_validate({"generated_at": 1_700_000_000.0, "routes": ROUTES})
    shown = text(report_view(report))
    assert "routes" in shown and "hello-2" in shown and "10.0.0.2:32769" in shown
    page = render_html(report)
    assert "<h2>Routes (app.yml expose)</h2>" in page and "hello-1 10.0.0.1:32768 (ready)" in page
    assert "lab2 r40 2 behind error: reload failed" in page
    assert "No app is exposed." in render_html(Report(generated_at=0.0))


def test_apps_show_their_urls():
    app = AppView.model_validate({"name": "hello", "spec": {"image": "img"}, "count": 1, "deployment_id": "d",
                                  "urls": ["http://hello.example.test/"]})
    assert rows(render.apps_table([app]))[1][-1] == "http://hello.example.test/"
    assert dict(render.app_pairs(app))["urls"] == "http://hello.example.test/"
    plain = app.model_copy(update={"urls": []})
    assert dict(render.app_pairs(plain))["urls"] == "- (not exposed)"
