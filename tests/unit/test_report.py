"""The report: built from cluster info, a reconcile diff and events; rendered as a table and as one HTML page."""

from __future__ import annotations

import re
from io import StringIO

from rich.console import Console

from paasops.cli.commands.ops import reconcile_view, report_view
from paasops.cli.report_html import render
from paasops.placement import HostSnapshot
from paasops.results import ClusterInfo, ReconcileResult, Report
from paasops.service.containers import ContainerView
from paasops.service.reconcile import diff
from paasops.service.report import EVENTS_WINDOW, build_report
from paasops.store.records import App, Event

NOW = 1_700_000_000.0
EVIL = '<script>alert("x")</script>'
INFO = {
    "engines": 3, "engines_up": 2, "cpus": 6, "memory_mb": 6144, "reserved_cpus": 1.5, "reserved_memory_mb": 1536,
    "containers": 4, "running": 3,
    "hosts": [
        {"id": "n2", "address": "10.0.0.2", "status": "up", "cpus": 2, "memory_mb": 2048, "reserved_cpus": 2.5,
         "reserved_memory_mb": 512, "containers": 2, "running": 2, "error": ""},
        {"id": "n1", "address": "10.0.0.1", "status": "up", "cpus": 4, "memory_mb": 4096, "reserved_cpus": 1,
         "reserved_memory_mb": 1024, "containers": 2, "running": 1, "error": ""},
        {"id": "n3", "address": "10.0.0.3", "status": "down", "cpus": 8, "memory_mb": 8192, "reserved_cpus": 0,
         "reserved_memory_mb": 0, "containers": 0, "running": 0, "error": f"engine n3: {EVIL}"},
    ],
}


def ctr(id_: str, app: str, host: str, index: int = 1) -> ContainerView:
    return ContainerView(id=id_, name=id_, engine_id=host, image="i", state="running", created=NOW - 60,
                         labels={"paasops.app": app, "paasops.spec-hash": "h", "paasops.replica": str(index)})


def report() -> Report:
    apps = [App("web", {}, 3, "d", "h"), App(EVIL, {}, 1, "d", "h")]
    hosts = [HostSnapshot(id=h, total_cpu=4, total_mem_mb=4096, healthy=h != "n3") for h in ("n1", "n2", "n3")]
    plan = diff(apps, [ctr("a", "web", "n1"), ctr("b", "web", "n2", 2), ctr("c", EVIL, "n2")], hosts, now=NOW)
    events = [Event("reconcile", message=f"done {EVIL}", time=NOW - 10, id="2"),
              Event("run-container", app="web", time=NOW - 100, id="1"),
              Event("old", time=NOW - EVENTS_WINDOW - 1, id="0")]
    return build_report(ClusterInfo.model_validate(INFO), plan, events, now=NOW)


def test_build_report():
    r = report().model_dump(mode="json")  # the JSON the API answers
    assert r["generated_at"] == NOW
    assert [h["id"] for h in r["hosts"]] == ["n1", "n2", "n3"]
    n2 = r["hosts"][1]
    # cpu 2.5/2 = 125% (overcommitted), memory 512/2048 = 25%
    assert (n2["cpu_percent"], n2["memory_percent"]) == (125.0, 25.0)
    assert r["totals"]["cpu_percent"] == 25.0 and r["totals"]["memory_percent"] == 25.0  # 1.5/6, 1536/6144
    assert [h["id"] for h in r["hosts_down"]] == ["n3"]
    web = next(a for a in r["apps"] if a["name"] == "web")
    assert (web["desired"], web["running"], web["missing"], web["in_sync"]) == (3, 2, 1, False)
    assert web["hosts"] == {"n1": 1, "n2": 1}
    assert r["apps_out_of_sync"] == ["web"]
    assert r["reconcile"] == {"in_sync": False, "summary": {"dead": 0, "missing": 1, "duplicate": 0, "orphan": 0},
                              "pending": 1}
    assert [e["type"] for e in r["events"]] == ["reconcile", "run-container"]  # the last 24 h only


def test_html_is_self_contained_and_escaped():
    page = render(report())
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert page.count("<svg") >= 2 and "<style>" in page
    assert "<script" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert not re.search(r"""(?:src|href)\s*=|@import|url\(|https?://""", page)
    assert ">n3 (down)</text>" in page and "cpu 125%" in page and 'class="over"' in page
    assert ">2 of 3</text>" in page  # web: 2 running of 3 desired
    assert "1 reconcile action(s) pending" in page


def test_html_without_hosts_apps_or_events():
    page = render(Report.model_validate({"generated_at": NOW, "totals": {}, "hosts": [], "apps": [], "events": [],
                                         "hosts_down": [], "reconcile": {"in_sync": True, "pending": 0}}))
    assert "No engines." in page and "No apps deployed." in page and "No events." in page and "in sync" in page


def text_of(renderable) -> str:
    buffer = StringIO()
    Console(file=buffer, width=200, no_color=True).print(renderable)
    return buffer.getvalue()


def test_report_table():
    shown = text_of(report_view(report()))
    assert "2 of 3 hosts up" in shown and "1 reconcile action(s) pending" in shown
    assert "hosts down or degraded: n3 (down)" in shown
    assert re.search(r"web\s+3\s+2\s+2\s+1\s+0\s+0\s+0\s+n1\(1\),n2\(1\)\s+out of sync", shown)  # ready 2: no check
    assert re.search(r"n2\s+up\s+2.5/2\s+125\s", shown)


def test_reconcile_table():
    result = {"dry_run": True, "changed": False, "in_sync": False, "summary": {},
              "message": "plan: create 1 replica (missing), destroy 1 (1 orphan)", "busy": ["db"],
              "unreachable_hosts": [],
              "actions": [{"kind": "create", "app": "web", "reason": "missing", "count": 1, "container": "",
                           "name": "", "host": "", "detail": "2 of 3 replicas run", "outcome": "planned", "error": ""},
                          {"kind": "destroy", "app": "ghost", "reason": "orphan", "count": 0,
                           "container": "0123456789abcdef", "name": "ghost-1", "host": "n1",
                           "detail": "app 'ghost' is not deployed", "outcome": "failed", "error": "engine n1: gone"}]}
    shown = text_of(reconcile_view(ReconcileResult.model_validate(result)))
    assert shown.splitlines()[0] == result["message"]
    assert re.search(r"create\s+web\s+1 replica\s+missing\s+2 of 3 replicas run\s+planned", shown)
    assert re.search(r"destroy\s+ghost\s+0123456789ab ghost-1\s+n1\s+orphan\s+.*failed engine n1: gone", shown)
    assert "left alone, being deployed or scaled now: db" in shown
