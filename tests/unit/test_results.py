"""The typed results: the JSON they make is the API's wire shape (keys only some answers carry are left out)."""

from __future__ import annotations

from paasops.results import (
    ActionOutcome,
    ClusterInfo,
    ContainerGone,
    ContainerInfo,
    DeployResult,
    Port,
    RemovedReplica,
    ReplicaResult,
    Report,
)

CID = "0123456789abcdef" * 4


def replica(status: str = "running") -> ReplicaResult:
    return ReplicaResult(index=1, host="lab1", name="hello-1", status=status, attempts=["lab1"], id=CID,
                         ports=[{"container": 80, "protocol": "tcp", "host_ip": "0.0.0.0", "host_port": 32768}])


def test_a_deploy_sends_no_scale_keys_and_a_scale_sends_them():
    deploy = DeployResult(app="hello", deployment="d1", spec_hash="h", count=1, replicas=[replica()],
                          removed=[RemovedReplica(id=CID, name="hello-1", host="lab2")])
    assert "before" not in deploy.model_dump() and "running" not in deploy.model_dump(mode="json")
    assert deploy.model_dump()["removed"] == [{"id": CID, "name": "hello-1", "host": "lab2"}]
    assert deploy.model_dump()["replicas"][0] == {
        "index": 1, "host": "lab1", "name": "hello-1",
        "ports": [{"container": 80, "protocol": "tcp", "host_ip": "0.0.0.0", "host_port": 32768}],
        "status": "running", "error": "", "attempts": ["lab1"], "id": CID}
    scale = DeployResult(app="hello", deployment="d1", spec_hash="h", count=3, before=1, running=2)
    assert (scale.model_dump()["before"], scale.model_dump()["running"]) == (1, 2)


def test_running_now_counts_the_scale_or_the_replicas_started():
    deploy = DeployResult(app="a", deployment="d", spec_hash="h", count=2, replicas=[replica(), replica("failed")])
    assert deploy.running_now == 1 and [r.status for r in deploy.failed] == ["failed"]
    assert DeployResult(app="a", deployment="d", spec_hash="h", count=5, running=4).running_now == 4


def test_a_parsed_answer_dumps_back_to_the_same_json():
    wire = {"app": "hello", "deployment": "d1", "spec_hash": "h", "count": 3, "before": 1, "running": 3,
            "replicas": [replica().model_dump()], "removed": [], "ok": True, "new_release": True,
            "changes": [{"field": "env.A", "change": "added", "old": None, "new": "1", "secret": False}]}
    assert DeployResult.model_validate(wire).model_dump(mode="json") == wire


def test_reconcile_outcomes_carry_replicas_and_note_only_when_they_have_them():
    action = {"kind": "destroy", "app": "a", "reason": "dead", "container": CID}
    assert set(ActionOutcome(**action, outcome="planned").model_dump()) == {
        "kind", "app", "reason", "count", "container", "name", "host", "detail", "outcome", "error"}
    gone = ActionOutcome(**action, outcome="ok", note="already gone").model_dump()
    assert gone["note"] == "already gone" and "replicas" not in gone
    assert ActionOutcome(kind="create", app="a", reason="missing", count=1, outcome="failed",
                         replicas=[]).model_dump()["replicas"] == []


def test_defaults_let_partial_views_parse():
    info = ClusterInfo.model_validate({"engines": 1, "hosts": [{"id": "n1", "cpus": 2}]})
    assert info.hosts[0].status == "unknown" and info.hosts[0].cpus == 2.0 and info.cpus == 0.0
    report = Report(generated_at=1.0)
    assert report.reconcile.in_sync and report.totals.engines == 0
    assert Port().model_dump() == {"container": None, "protocol": "tcp", "host_ip": "", "host_port": None}


def test_a_container_that_went_away():
    assert ContainerGone(id=CID).model_dump() == {"id": CID, "state": "gone"}
    view = ContainerInfo(id=CID, name="web", engine="lab1", labels={"paasops.app": "web"})
    assert view.model_dump()["ports"] == [] and view.model_dump()["app"] is None


def test_the_services_views_of_an_engine_and_a_container():
    from paasops.service.containers import from_sparse
    from paasops.service.engine import EngineHandle
    from paasops.store.records import Engine

    handle = EngineHandle(Engine(id="n1", address="10.0.0.1", docker_url="https://10.0.0.1:2376", cpus=2), None)
    container = from_sparse("n1", {"Id": "c1", "Names": ["/web-1"], "Image": "nginx", "State": "running",
                                   "Created": 5, "Labels": {"paasops.app": "web", "paasops.cpus": "0.5",
                                                            "paasops.memory-mb": "64"},
                                   "Ports": [{"PrivatePort": 80, "Type": "tcp", "IP": "0.0.0.0", "PublicPort": 8080}]})
    handle.containers = {"c1": container}
    handle.images = {"nginx:latest", "sha256:x"}
    assert handle.view().model_dump() == {
        "id": "n1", "address": "10.0.0.1", "docker_url": "https://10.0.0.1:2376", "status": "unknown", "unschedulable": False,
        "source": "manual", "labels": {}, "cpus": 2.0, "memory_mb": 0, "reserved_cpus": 0.5,
        "reserved_memory_mb": 64, "containers": 1, "running": 1, "images": 1, "docker_version": "", "error": ""}
    assert container.info().model_dump() == {
        "id": "c1", "name": "web-1", "engine": "n1", "image": "nginx", "state": "running", "status": "",
        "created": 5.0, "app": "web", "deployment": None, "spec_hash": None, "cpus": 0.5, "memory_mb": 64,
        "labels": {"paasops.app": "web", "paasops.cpus": "0.5", "paasops.memory-mb": "64"},
        "ports": [{"container": 80, "protocol": "tcp", "host_ip": "0.0.0.0", "host_port": 8080}],
        "health": "none", "ready": True}


def test_a_replicas_result_names_its_container_id():
    from paasops.service.deploy import Replica

    replica = Replica(2, host="lab1", container_id=CID, name="web-2", status="running", attempts=["lab2", "lab1"])
    assert replica.result().model_dump() == {"index": 2, "host": "lab1", "name": "web-2", "ports": [],
                                             "status": "running", "error": "", "attempts": ["lab2", "lab1"],
                                             "id": CID}
