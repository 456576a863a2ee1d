"""How the CLI shows a rolling update: its batches as they go, a rolled-back result, and the error it exits with."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from paasops.cli import render
from paasops.errors import PaasopsError
from paasops.results import DeployResult
from paasops.service.containers import ContainerView
from paasops.service.rollout import verdict

FAILURE = {"index": 7, "batch": 1, "reason": "unhealthy", "name": "web-7", "host": "lab1", "id": "c7",
           "detail": "health check exit 1: wget: server returned error: HTTP/1.1 404 Not Found"}
ROLLED_BACK = {"app": "web", "deployment": "d2", "spec_hash": "h2", "count": 6, "running": 6, "ok": False,
               "new_release": True, "batches": 6, "rolled_back": True, "paused": False, "failures": [FAILURE],
               "replicas": [], "removed": [{"id": "c7" + "0" * 10, "name": "web-7", "host": "lab1"}]}


def text(renderable) -> str:
    console = Console(width=220, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_a_rolled_back_result_says_so_and_names_each_failure():
    out = text(render.result_view(DeployResult.model_validate(ROLLED_BACK))).splitlines()
    assert out[0] == "web: 6 replicas, 6 running (deployment d2)"
    assert out[1] == "rolling update failed: rolled back to the previous release (0 replica(s) restored)"
    assert out[-1] == ("failed: replica 7 (web-7 on lab1), batch 1: unhealthy: health check exit 1: wget: server "
                       "returned error: HTTP/1.1 404 Not Found")


def test_a_rolled_back_or_paused_update_exits_non_zero_with_the_health_output():
    with pytest.raises(PaasopsError, match=r"^web: rolling update rolled back to the previous release: failed: "
                                           r"replica 7 .*HTTP/1.1 404 Not Found$"):
        render.check_result(DeployResult.model_validate(ROLLED_BACK))
    with pytest.raises(PaasopsError, match=r"rolling update paused \(left pending\)"):
        render.check_result(DeployResult.model_validate({**ROLLED_BACK, "rolled_back": False, "paused": True}))
    done = {**ROLLED_BACK, "ok": True, "rolled_back": False, "failures": []}
    render.check_result(DeployResult.model_validate(done))  # a completed update: no error
    assert "rolled out in 6 batch(es)" in text(render.result_view(DeployResult.model_validate(done)))


def test_deploy_progress_shows_each_batch():
    buffer = io.StringIO()
    with render.DeployProgress(Console(file=buffer, width=200, color_system=None)) as progress:
        progress({"event": "batch", "batch": 1, "of": 2, "state": "starting", "start": 1, "replace": 1})
        progress({"event": "batch", "batch": 1, "of": 2, "state": "ready", "ready": 1})
        progress({"event": "batch", "batch": 2, "of": 2, "state": "failed", "failures": [FAILURE]})
        progress({"event": "rollback", "replicas": 1})
    shown = buffer.getvalue()
    assert "batch 1/2 ready" in shown and "batch 2/2 failed" in shown
    assert "failed: replica 7 (web-7 on lab1), batch 1: unhealthy" in shown
    assert "rolling back: restoring 1 replica(s) of the previous release" in shown


def view(state: str, status: str) -> ContainerView:
    return ContainerView(id="c1", name="web-1", engine_id="lab1", image="x", state=state, status=status)


@pytest.mark.parametrize("state, status, expected", [
    ("running", "Up 2 seconds (healthy)", "ready"),
    ("running", "Up 2 seconds", "ready"),  # no health check: running is ready
    ("running", "Up 1 second (health: starting)", "starting"),
    ("created", "Created", "starting"),
    ("running", "Up 5 seconds (unhealthy)", "unhealthy"),
    ("exited", "Exited (1) 1 second ago", "exited"),
    ("restarting", "Restarting (1) 1 second ago", "exited"),
])
def test_how_a_new_replica_is_doing(state, status, expected):
    assert verdict(view(state, status)) == expected
    assert verdict(None) == "gone"
