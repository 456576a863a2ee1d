"""POST /api/plan and the report's headroom over a real SQLite store, engines as filled caches (no engine behind)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from paasops.api.app import create_app
from paasops.auth.first_admin import ensure_first_admin, seed_roles
from paasops.placement import Request
from paasops.placement.reference import naive_place
from paasops.service.containers import ContainerView
from paasops.service.engine import EngineHandle
from paasops.service.service import Service
from paasops.service.settings import ServiceSettings
from paasops.store.records import App, Engine

PASSWORD = "admin-Pw-for-the-plan-test"
WEB = {"name": "web", "image": "nginx", "cpus": 0.5, "memory": "256m"}
BIG = {"name": "big", "image": "nginx", "cpus": 3.6, "memory": "512m"}
MINE = {"name": "mine", "image": "nginx", "cpus": 0.1, "memory": "64m"}  # bob's, on lab4 (1 CPU, 512 MB)


def replica(app: dict, index: int, on: str) -> ContainerView:
    labels = {"paasops.app": app["name"], "paasops.replica": str(index), "paasops.spec-hash": "h1",
              "paasops.cpus": str(app["cpus"]), "paasops.memory-mb": app["memory"].rstrip("m")}
    return ContainerView(id=f"{on}-{app['name']}-{index}", name=f"{app['name']}-{index}", engine_id=on, image="nginx",
                         state="running", labels=labels)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    state = tmp_path_factory.mktemp("plan-api")
    service = Service(ServiceSettings(state=f"sqlite:///{state / 'state.db'}", pki_dir=state))
    seed_roles(service.store)
    ensure_first_admin(service.store, PASSWORD)
    service.store.put_app(App("web", WEB, 8, "d1", "h1"))
    service.store.put_app(App("big", BIG, 1, "d1", "h1"))
    service.store.put_app(App("mine", MINE, 1, "d1", "h1", owner="bob"))
    client = TestClient(create_app(service))
    # lab3 holds 5 of web's 8 replicas and big (3.6 CPUs: lab1 has 3.5 free, lab2 3)
    layout = {"lab1": (4, [replica(WEB, 1, "lab1")]),
              "lab2": (4, [replica(WEB, 2, "lab2"), replica(WEB, 3, "lab2")]),
              "lab3": (8, [replica(WEB, i, "lab3") for i in range(4, 9)] + [replica(BIG, 1, "lab3")]),
              "lab4": (1, [replica(MINE, 1, "lab4")])}
    for name, (cpus, views) in layout.items():
        handle = EngineHandle(Engine(name, "10.0.0.1", cpus=cpus, memory_mb=512 if name == "lab4" else 4096), None)
        handle.status = "up"
        handle.containers = {v.id: v for v in views}
        service.cluster.engines[name] = handle
    with client:
        token = client.post("/api/login", json={"username": "admin", "password": PASSWORD}).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        added = client.post("/api/accounts", json={"name": "bob", "password": "bob-Pw-0123456789", "role": "user"})
        assert added.status_code == 201, added.text
        yield client, service
    service.stop()


def test_losing_lab3_places_web_as_the_reference_and_strands_big(api):
    client, service = api
    answer = client.post("/api/plan", json={"lose": ["lab3"]})
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    apps = {a["app"]: a for a in plan["apps"]}
    assert (apps["big"]["placed"], apps["big"]["stranded"]) == (0, 1) and "cpu: needs 3.6 CPUs" in apps["big"]["why"]
    others = [h for h in service.cluster.snapshot() if h.id != "lab3"]
    expected = [a.host_id for a in naive_place(others, Request("web", cpus=0.5, memory_mb=256), 5).assignments]
    assert [m["host"] for m in apps["web"]["moves"]] == expected
    assert {m["from_host"] for m in apps["web"]["moves"]} == {"lab3"}
    assert not plan["complete"] and plan["stranded"] == 1 and "big (1)" in plan["message"]
    # an added host takes big
    plan = client.post("/api/plan", json={"lose": ["lab3"], "add": [{"id": "lab9", "cpus": 8, "memory_mb": 8192}]})
    assert plan.json()["complete"], plan.text


def test_an_app_spec_is_planned_after_the_moves(api):
    client, _ = api
    spec = {"name": "api", "image": "nginx", "cpus": 1, "memory": "128m"}
    plan = client.post("/api/plan", json={"drain": ["lab1"], "spec": spec, "count": 2}).json()
    assert [(a["app"], a["kind"], a["placed"]) for a in plan["apps"]] == [("web", "moved", 1), ("api", "new", 2)]
    assert "lab1" not in {m["host"] for a in plan["apps"] for m in a["moves"]}


@pytest.mark.parametrize("body, words", [
    ({"lose": ["nope"]}, "--lose: no host 'nope'"),
    ({"drain": ["lab1"], "lose": ["lab1"]}, "named more than once"),
    ({"add": [{"id": "lab1", "cpus": 1, "memory_mb": 1}]}, "'lab1' exists already"),
    ({"add": [{"id": "x", "cpus": 0, "memory_mb": 1}]}, "add.0.cpus"),
    ({"spec": {"name": "api"}}, "image"),
    ({"spec": WEB, "count": -1}, "count"),
    ({"loose": ["lab1"]}, "loose"),
])
def test_bad_plans_are_refused_naming_what(api, body, words):
    client, _ = api
    answer = client.post("/api/plan", json=body)
    assert answer.status_code == 400 and words in answer.json()["error"], answer.text


def test_the_report_says_which_loss_strands_what(api):
    client, _ = api
    room = client.get("/api/report").json()["headroom"]
    assert not room["survives"]
    losses = {x["host"]: x for x in room["losses"]}
    assert losses["lab3"]["stranded"] == {"big": 1} and losses["lab1"]["survives"]
    # web: lab1 (4 - 0.5) / 0.5 = 7, lab2 (4 - 1) / 0.5 = 6, lab3 (8 - 2.5 - 3.6) / 0.5 = 3.8 -> 3,
    #      lab4 min((1 - 0.1) / 0.5, (512 - 64) // 256) = min(1.8, 1) -> 1: 17; big: none
    # mine (0.1 CPU, 64 MB): lab1 min(35, 3584 // 64 = 56) + lab2 min(30, 48) + lab3 min(19, 2304 // 64 = 36)
    #      + lab4 min(9, 448 // 64 = 7) = 35 + 30 + 19 + 7 = 91
    assert {a["app"]: a["more"] for a in room["apps"]} == {"big": 0, "mine": 91, "web": 17}
    assert room["cpu"]["free"] == pytest.approx(3.5 + 3 + 1.9 + 0.9)


def test_a_user_plans_over_its_own_apps_only(api):
    client, _ = api
    token = client.post("/api/login", json={"username": "bob", "password": "bob-Pw-0123456789"}).json()["token"]
    bob = {"Authorization": f"Bearer {token}"}
    plan = client.post("/api/plan", json={"lose": ["lab3", "lab4"]}, headers=bob).json()
    assert [a["app"] for a in plan["apps"]] == ["mine"] and plan["complete"]  # big and web are not bob's
    assert [a["app"] for a in client.post("/api/plan", json={"lose": ["lab3", "lab4"]}).json()["apps"]] == [
        "big", "mine", "web"]
    room = client.get("/api/report", headers=bob).json()["headroom"]
    assert [a["app"] for a in room["apps"]] == ["mine"] and room["survives"]  # big's stranding is not shown
    taken = client.post("/api/plan", json={"spec": WEB}, headers=bob)
    assert taken.status_code == 403, taken.text
