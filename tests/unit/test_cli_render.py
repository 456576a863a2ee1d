"""The CLI's renderers: the API's JSON rendered as tables and views, from sample answers."""

from __future__ import annotations

import io

import pytest
from pydantic import TypeAdapter
from rich.console import Console

from paasops.cli import render
from paasops.errors import PaasopsError
from paasops.results import (
    AppView,
    ClusterInfo,
    ContainerDetail,
    ContainerGone,
    ContainerInfo,
    DeployResult,
    DryRunPlan,
    EventView,
)


def parse(shape, answer):
    """A sample API answer as the client hands it to the renderers."""
    return TypeAdapter(shape).validate_python(answer)

NOW = 1_700_000_000.0
CID = "abcfb741bad0dcae214d5edc2e0658dc4b7d75a80b64a31cb09f3a14a2f03510"


def text(renderable) -> str:
    console = Console(width=220, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def lines(renderable) -> list[list[str]]:
    return [line.split() for line in text(renderable).splitlines() if line.strip()]


# -- tables from sample API answers ---------------------------------------------------------------------
CONTAINERS = [
    {"id": CID, "name": "hello-1", "engine": "lab1", "image": "paasops/hello:latest", "state": "running",
     "status": "Up Less than a second", "created": NOW - 120, "app": "hello", "deployment": "4763ae2c716f",
     "spec_hash": "e80696d8e278", "cpus": 0.5, "memory_mb": 128, "labels": {"paasops.app": "hello"},
     "ports": [{"container": 8080, "protocol": "tcp", "host_ip": "::", "host_port": 32772}]},
    {"id": "44e6769ad5e4" + "0" * 52, "name": "db", "engine": "lab2", "image": "postgres:16", "state": "exited",
     "status": "Exited (0)", "created": NOW - 7200, "app": None, "labels": {}, "ports": []},
]


def test_containers_table_shows_short_ids_and_ages_not_the_stale_status():
    rows = lines(render.containers_table(parse(list[ContainerInfo], CONTAINERS), now=NOW))
    assert rows[0] == ["CONTAINER", "ID", "NAME", "APP", "HOST", "IMAGE", "STATE", "HEALTH", "CREATED", "PORTS"]
    assert rows[1] == [CID[:12], "hello-1", "hello", "lab1", "paasops/hello:latest", "running", "none", "2",
                       "minutes", "ago", "[::]:32772->8080/tcp"]
    assert rows[2] == ["44e6769ad5e4", "db", "lab2", "postgres:16", "exited", "none", "2", "hours", "ago"]
    assert CID not in text(render.containers_table(parse(list[ContainerInfo], CONTAINERS), now=NOW))


DRY_RUN = {
    "app": "hello", "count": 3, "dry_run": True, "strategy": "thesis",
    "plan": [{"replica": 0, "host": "lab3", "score": 85.4375, "cpu": 50.9375, "memory": 34.5},
             {"replica": 1, "host": "lab3", "score": 81.375, "cpu": 46.875, "memory": 34.5},
             {"replica": 2, "host": "lab1", "score": 76.5, "cpu": 42.5, "memory": 34.0}],
    "explanation": [
        # cpu: (1 - 0.5/8) * 65 = 60.9375 ; mem: (1 - 128/8192) * 35 = 34.453125
        {"host": "lab3", "status": "fits", "score": 95.390625, "cpu": 60.9375, "memory": 34.453125,
         "replicas": 0, "placed": 2, "filter": None, "reason": None},
        {"host": "lab1", "status": "fits", "score": 91.78125, "cpu": 56.875, "memory": 34.90625,
         "replicas": 1, "placed": 1, "filter": None, "reason": None},
        {"host": "lab2", "status": "rejected", "score": None, "cpu": None, "memory": None, "replicas": 0,
         "placed": 0, "filter": "resources", "reason": "needs 512 MiB, 100 MiB free"},
    ],
}


def test_plan_view_numbers_replicas_from_one_and_explains_each_host():
    out = text(render.plan_view(parse(DryRunPlan, DRY_RUN)))
    rows = [line.split() for line in out.splitlines() if line.strip()]
    assert rows[0] == ["plan:", "3", "replicas", "of", "hello", "(thesis)"]
    assert rows[2:5] == [["1", "lab3", "85.44", "50.94", "34.50"], ["2", "lab3", "81.38", "46.88", "34.50"],
                         ["3", "lab1", "76.50", "42.50", "34.00"]]
    assert rows[7] == ["lab3", "fits", "95.39", "60.94", "34.45", "0", "2"]
    assert rows[8] == ["lab1", "fits", "91.78", "56.88", "34.91", "1", "1"]
    assert rows[9] == ["lab2", "rejected", "0", "0", "resources:", "needs", "512", "MiB,", "100", "MiB", "free"]
    assert rows[10] == ["same", "release:", "no", "spec", "change", "(a", "scale", "at", "most)"]


def test_a_dry_run_and_a_deploy_show_what_changed_never_a_secret():
    changes = [{"field": "env.GREETING", "change": "changed", "old": "hi", "new": "hello"},
               {"field": "ports", "change": "changed", "old": ["0:8080/tcp"], "new": []},
               {"field": "secrets.DB", "change": "changed", "secret": True}]
    out = text(render.plan_view(parse(DryRunPlan, {**DRY_RUN, "new_release": True, "changes": changes})))
    assert "env.GREETING: 'hi' -> 'hello'" in out and "secrets.DB: changed (secret)" in out
    assert "ports: ['0:8080/tcp'] -> []" in out
    new_app = text(render.plan_view(parse(DryRunPlan, {**DRY_RUN, "new_release": True})))
    assert new_app.rstrip().endswith("a new app")
    result = DeployResult(app="hello", deployment="d2", spec_hash="h", count=1, new_release=True,
                          changes=parse(DryRunPlan, {**DRY_RUN, "changes": changes}).changes)
    assert "new release: 3 change(s)" in text(render.result_view(result))


DEPLOYED = {"app": "hello", "deployment": "4763ae2c716f0000", "spec_hash": "e80696d8e278", "count": 2,
            "replicas": [
                {"index": 1, "host": "lab1", "id": CID, "name": "hello-1", "status": "running", "error": "",
                 "ports": [{"container": 8080, "protocol": "tcp", "host_ip": "0.0.0.0", "host_port": 32768}],
                 "attempts": ["lab1"]},
                {"index": 2, "host": None, "id": None, "name": None, "status": "failed", "ports": [],
                 "error": "engine lab2: unreachable", "attempts": ["lab2", "lab1"]}],
            "removed": [{"id": "0123456789abcdef"}], "ok": False}


def test_result_view_lists_replicas_and_removed():
    out = text(render.result_view(parse(DeployResult, DEPLOYED)))
    rows = [line.split() for line in out.splitlines() if line.strip()]
    assert rows[0] == ["hello:", "2", "replicas,", "1", "running", "(deployment", "4763ae2c716f)"]
    assert rows[1] == ["INDEX", "HOST", "CONTAINER", "ID", "NAME", "PORTS", "STATUS"]
    assert rows[2] == ["1", "lab1", CID[:12], "hello-1", "0.0.0.0:32768->8080/tcp", "running"]
    assert rows[3] == ["2", "failed", "engine", "lab2:", "unreachable"]
    assert rows[4] == ["removed", "0123456789ab"]


def test_result_view_of_a_scale():
    scaled = {"app": "hello", "deployment": "d1", "spec_hash": "e80696d8e278", "count": 1, "before": 3,
              "running": 1, "replicas": [],
              "removed": [{"id": CID, "name": "hello-3", "host": "lab2"}], "ok": True}
    rows = [line.split() for line in text(render.result_view(parse(DeployResult, scaled))).splitlines() if line.strip()]
    assert rows == [["hello:", "3", "->", "1", "replicas,", "1", "running", "(deployment", "d1)"],
                    ["removed", CID[:12], "(hello-3", "on", "lab2)"]]


def test_check_result_raises_naming_the_failed_replicas():
    with pytest.raises(PaasopsError, match=r"^hello: 1 of 2 replicas did not start: replica 2: engine lab2"):
        render.check_result(parse(DeployResult, DEPLOYED))
    render.check_result(parse(DeployResult, {**DEPLOYED, "replicas": DEPLOYED["replicas"][:1]}))


INFO = {"engines": 3, "engines_up": 2, "cpus": 12.0, "memory_mb": 12288, "reserved_cpus": 1.5,
        "reserved_memory_mb": 384, "containers": 5, "running": 4, "images": 7, "time": NOW,
        "hosts": [{"id": "lab1", "address": "10.0.0.11", "status": "up", "source": "etcd", "labels": {"zone": "a"},
                   "cpus": 4.0, "memory_mb": 4096, "reserved_cpus": 1.0, "reserved_memory_mb": 256,
                   "containers": 3, "running": 3, "images": 4, "error": ""},
                  {"id": "lab2", "address": "10.0.0.12", "status": "down", "source": "etcd", "labels": {},
                   "cpus": 2.0, "memory_mb": 2048, "reserved_cpus": 0.5, "reserved_memory_mb": 128,
                   "containers": 2, "running": 1, "images": 3, "error": "engine lab2: unreachable"}]}


def test_cluster_view():
    rows = lines(render.cluster_view(parse(ClusterInfo, INFO)))
    assert rows[:5] == [["engines", "2", "up", "of", "3"], ["cpus", "1.5", "reserved", "of", "12"],
                        ["memory", "384", "MiB", "reserved", "of", "12.0", "GiB"],
                        ["containers", "4", "running", "of", "5"], ["images", "7"]]
    assert rows[6] == ["lab1", "10.0.0.11", "up", "etcd", "1/4", "256", "MiB/4.0", "GiB", "3/3", "zone=a"]
    assert rows[7] == ["lab2", "10.0.0.12", "down", "etcd", "0.5/2", "128", "MiB/2.0", "GiB", "1/2", "engine",
                       "lab2:", "unreachable"]


EVENTS = [
    {"id": "2", "type": "die", "tag": "docker", "app": "hello", "host": "lab1", "container": CID, "user": None,
     "message": "hello-1 die", "data": {"exitCode": "137"}, "time": NOW},
    {"id": "1", "type": "run-container", "tag": "api", "app": "hello", "host": "lab1", "container": CID,
     "user": "local", "message": "hello-1 on lab1", "data": {}, "time": NOW - 60},
]


def test_events_table_and_follow_lines():
    rows = lines(render.events_table(parse(list[EventView], EVENTS)))
    stamp = render.fmt_time(NOW).split()
    assert rows[1][:2] == stamp
    assert rows[1][2:] == ["die", "docker", "hello", "lab1", CID[:12], "hello-1", "die"]
    assert rows[2][2:] == ["run-container", "api", "hello", "lab1", CID[:12], "local", "hello-1", "on", "lab1"]
    assert render.event_line(parse(EventView, EVENTS[0])) == f"{render.fmt_time(NOW)} docker die app=hello host=lab1 " \
                                           f"container={CID[:12]}  hello-1 die"
    assert render.event_line(EventView(type="host-down", tag="health", time=NOW)) == \
        f"{render.fmt_time(NOW)} health host-down"


def test_apps_table_desired_versus_running():
    apps = [{"name": "hello", "spec": {"image": "paasops/hello:latest"}, "count": 3, "replicas": 2, "ready": 1,
             "health": "http /up", "hosts": ["lab1", "lab3"], "deployment_id": "4763ae2c716f0000", "updated_at": NOW}]
    assert lines(render.apps_table(parse(list[AppView], apps)))[0][:5] == ["APP", "IMAGE", "DESIRED", "RUNNING", "READY"]
    assert lines(render.apps_table(parse(list[AppView], apps)))[1][:9] == \
        ["hello", "paasops/hello:latest", "3", "2", "1", "http", "/up", "lab1,lab3", "4763ae2c716f"]


def test_container_pairs_take_details_from_the_engines_inspect():
    detail = {**CONTAINERS[0], "inspect": {"Config": {"Cmd": ["httpd", "-f", "-p", "8080"]},
                                           "NetworkSettings": {"IPAddress": "172.17.0.2"},
                                           "State": {"StartedAt": "2023-11-14T22:13:20Z"}, "RestartCount": 1}}
    pairs = dict(render.container_pairs(parse(ContainerDetail, detail)))
    assert pairs["command"] == "httpd -f -p 8080"
    assert pairs["ip address"] == "172.17.0.2"
    assert pairs["started"] == "2023-11-14T22:13:20Z"
    assert pairs["memory"] == "128 MiB"
    assert pairs["ports"] == "[::]:32772->8080/tcp"
    assert "paasops.app=hello" in pairs["labels"]
    assert (pairs["health"], pairs["ready"], pairs["last probe"]) == ("none", False, "")


def test_inspect_shows_health_and_the_last_probe():
    log = [{"ExitCode": 0, "End": "2026-12-03T17:00:00.1Z", "Output": ""},
           {"ExitCode": 1, "End": "2026-12-03T17:00:02.123Z", "Output": "wget: server returned error: 404\n"}]
    detail = {**CONTAINERS[0], "health": "unhealthy", "inspect": {"State": {"Health": {"Status": "unhealthy",
                                                                                        "Log": log}}}}
    pairs = dict(render.container_pairs(parse(ContainerDetail, detail)))
    assert pairs["health"] == "unhealthy"
    assert pairs["last probe"] == "exit 1 at 2026-12-03T17:00:02: wget: server returned error: 404"


def test_deploy_progress_prints_the_changes_before_acting():
    buffer = io.StringIO()
    progress = render.DeployProgress(Console(file=buffer, width=120))
    progress({"event": "changes", "changes": [{"field": "env.A", "change": "changed", "old": "1", "new": "2"},
                                              {"field": "secrets.S", "change": "added", "secret": True}]})
    assert buffer.getvalue().splitlines() == ["changes:", "  env.A: '1' -> '2'", "  secrets.S: added (secret)"]


def test_action_line_of_a_container_and_of_one_gone():
    assert render.action_line("stopped", parse(ContainerInfo, CONTAINERS[0])) == \
        f"stopped {CID[:12]} (hello-1 on lab1): running"
    assert render.action_line("restarted", ContainerGone(id=CID)) == f"restarted {CID[:12]}"


def test_engine_pairs_in_the_apis_order():
    pairs = render.engine_pairs(parse(ClusterInfo, INFO).hosts[0])
    assert [k for k, _ in pairs][:4] == ["id", "address", "docker_url", "status"]
    assert dict(pairs)["labels"] == {"zone": "a"}


def test_deploy_progress_follows_the_stream():
    console = Console(file=io.StringIO(), width=120, color_system=None, force_terminal=False)
    with render.DeployProgress(console) as progress:
        progress({"event": "planned", "total": 3, "hosts": {"lab1": 2, "lab2": 1}})
        progress({"event": "running", "index": 1, "host": "lab1", "name": "hello-1"})
        progress({"event": "retry", "index": 2, "host": "lab2", "error": "engine lab2: unreachable"})
        progress({"event": "running", "index": 2, "host": "lab1", "name": "hello-2"})
        progress({"event": "failed", "index": 3, "host": "lab1", "error": "no memory"})
        progress({"event": "image", "message": "copying paasops/hello:latest to lab2"})
        task = progress.bar.tasks[0]
        assert (task.total, task.completed) == (3, 3)
        assert task.description == "copying paasops/hello:latest to lab2"
    printed = console.file.getvalue()
    assert "retry: replica 2 on lab2: engine lab2: unreachable" in printed
    assert "failed: replica 3 on lab1: no memory" in printed
