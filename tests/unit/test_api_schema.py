"""The API over a real SQLite store (FastAPI's TestClient, no engine): every route documents its answer, and the
answers keep their JSON keys."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from paasops.api.app import create_app
from paasops.auth.first_admin import ensure_first_admin, seed_roles
from paasops.service.service import Service
from paasops.service.settings import ServiceSettings
from paasops.store.records import App, Event

PASSWORD = "admin-Pw-for-the-schema-test"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    state = tmp_path_factory.mktemp("api")
    service = Service(ServiceSettings(state=f"sqlite:///{state / 'state.db'}", pki_dir=state))
    seed_roles(service.store)
    ensure_first_admin(service.store, PASSWORD)
    service.store.put_app(App("web", {"name": "web", "image": "nginx"}, 2, "d1", "h1"))
    service.store.add_event(Event("deploy-app", app="web", message="deployed web"))
    with TestClient(create_app(service)) as client:
        token = client.post("/api/login", json={"username": "admin", "password": PASSWORD}).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client
    service.stop()


def test_openapi_documents_a_response_schema_for_every_route(api):
    spec = api.get("/openapi.json").json()
    missing = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            answer = operation["responses"].get("200") or operation["responses"].get("201") or {}
            schemas = [c.get("schema") for c in (answer.get("content") or {}).values()]
            if not any(schemas):  # FastAPI writes an empty schema for an undeclared answer
                missing.append(f"{method.upper()} {path}")
    assert missing == []
    assert len(spec["paths"]) >= 20
    deploy = spec["paths"]["/api/containers"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert {s["$ref"].rsplit("/", 1)[1] for s in deploy["anyOf"]} == {"DeployResult", "DryRunPlan"}
    assert "removed" in spec["components"]["schemas"]["DeployResult"]["properties"]


def test_answers_keep_their_keys(api):
    assert api.get("/healthz").json() == {"ok": True, "engines": 0, "store": "up"}
    assert api.get("/api/engines").json() == []
    info = api.get("/api/cluster/info").json()
    assert set(info) == {"engines", "engines_up", "cpus", "memory_mb", "reserved_cpus", "reserved_memory_mb",
                         "containers", "running", "images", "hosts", "time"}
    event = next(e for e in api.get("/api/events", params={"app": "web"}).json())
    assert set(event) == {"type", "tag", "app", "host", "container", "user", "message", "data", "time", "id"}
    [app] = api.get("/api/apps").json()
    assert set(app) == {"name", "spec", "count", "deployment_id", "spec_hash", "state", "created_at", "updated_at",
                        "replicas", "ready", "unhealthy", "health", "hosts", "owner", "team", "secrets", "urls"}
    assert (app["replicas"], app["hosts"]) == (0, [])
    report = api.get("/api/report").json()
    assert set(report) == {"generated_at", "totals", "hosts", "hosts_down", "apps", "apps_out_of_sync", "headroom",
                           "reconcile", "events", "routes"}
    assert report["apps_out_of_sync"] == ["web"] and set(report["reconcile"]) == {"in_sync", "summary", "pending"}
    plan = api.post("/api/reconcile", json={"dry_run": True}).json()
    assert set(plan) == {"dry_run", "changed", "in_sync", "message", "summary", "actions", "remaining", "apps",
                         "busy", "unreachable_hosts", "unreachable_containers"}
    assert [(a["kind"], a["outcome"]) for a in plan["actions"]] == [("create", "planned")]
    assert "replicas" not in plan["actions"][0] and "note" not in plan["actions"][0]


def test_account_answers(api):
    assert set(api.get("/api/account").json()) == {"name", "role", "team", "created_at", "updated_at",
                                                   "token_expires_at"}
    assert [a["name"] for a in api.get("/api/accounts").json()] == ["admin"]
    added = api.post("/api/accounts", json={"name": "bob", "password": "bob-Pw-0123456789", "role": "user"})
    assert added.status_code == 201 and set(added.json()) == {"name", "role", "team", "created_at", "updated_at"}
    assert api.delete("/api/accounts/bob").json() == {"deleted": "bob"}
    assert api.get("/api/engines/nowhere").status_code == 404  # errors keep their own body
    assert api.get("/api/engines/nowhere").json()["type"] == "NotFoundError"
