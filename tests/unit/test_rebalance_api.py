"""POST /api/rebalance and `paasops rebalance` over a real SQLite store, engines as filled caches (no engine behind):
the plan onto a host back empty, bad input refused naming what, a user moves only its own apps, and a move that
cannot start stops the run with nothing removed."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from paasops.api.app import create_app
from paasops.auth.first_admin import ensure_first_admin, seed_roles
from paasops.cli.commands.rebalance import moves_view
from paasops.cli.main import app as cli
from paasops.results import RebalanceMove, RebalanceResult
from paasops.service.containers import ContainerView
from paasops.service.engine import EngineHandle
from paasops.service.service import Service
from paasops.service.settings import ServiceSettings
from paasops.store.records import App, Engine
from paasops.vocabulary import DEPLOY_PENDING

PASSWORD = "admin-Pw-for-the-rebalance-test"
WEB = {"name": "web", "image": "nginx", "cpus": 0.5, "memory": "256m"}
HELD = {"name": "held", "image": "nginx", "cpus": 0.5, "memory": "256m"}  # its deployment pending: never moved


def replica(app: dict, index: int, on: str, spec_hash: str = "h1") -> ContainerView:
    labels = {"paasops.app": app["name"], "paasops.replica": str(index), "paasops.spec-hash": spec_hash,
              "paasops.cpus": str(app["cpus"]), "paasops.memory-mb": app["memory"].rstrip("m")}
    return ContainerView(id=f"{on}-{app['name']}-{index}-{spec_hash}", name=f"{app['name']}-{index}", engine_id=on,
                         image="nginx", state="running", labels=labels)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    state = tmp_path_factory.mktemp("rebalance-api")
    service = Service(ServiceSettings(state=f"sqlite:///{state / 'state.db'}", pki_dir=state))
    seed_roles(service.store)
    ensure_first_admin(service.store, PASSWORD)
    service.store.put_app(App("web", WEB, 8, "d1", "h1"))
    service.store.put_app(App("held", HELD, 2, "d1", "h1", state=DEPLOY_PENDING))
    client = TestClient(create_app(service))
    # lab3 came back empty: web's 8 replicas are on lab1 and lab2 (one copy of another release on lab2 stays put)
    layout = {"lab1": [replica(WEB, i, "lab1") for i in (1, 2, 3, 4)] + [replica(HELD, 1, "lab1")],
              "lab2": [replica(WEB, i, "lab2") for i in (5, 6, 7, 8)] + [replica(WEB, 9, "lab2", "h0"),
                                                                          replica(HELD, 2, "lab1")],
              "lab3": []}
    for name, views in layout.items():
        handle = EngineHandle(Engine(name, "10.0.0.1", cpus=4, memory_mb=4096), None)
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


def containers(service) -> list[str]:
    return sorted(c.id for c in service.cluster.containers())


def test_the_plan_moves_replicas_onto_the_host_back_empty_and_changes_nothing(api):
    client, service = api
    before = containers(service)
    answer = client.post("/api/rebalance", json={})
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    # lab1 and lab2 each hold 4 x 0.5 CPUs (+ lab2 the old copy, lab1 held's): the highest index of each goes first
    assert [(m["app"], m["replica"], m["from_host"], m["to_host"]) for m in plan["moves"]][:2] == [
        ("web", 8, "lab2", "lab3"), ("web", 4, "lab1", "lab3")]
    assert all(m["improvement"] > 1 and not m["done"] for m in plan["moves"])
    assert not plan["applied"] and "held" in plan["skipped"] and "pending" in plan["skipped"]["held"]
    assert containers(service) == before
    one = client.post("/api/rebalance", json={"max_moves": 1, "app": "w*"}).json()
    assert len(one["moves"]) == 1 and one["more"] and one["moves"][0] == plan["moves"][0]


@pytest.mark.parametrize("body, words", [
    ({"max_moves": 0}, "max_moves"),
    ({"max_moves": 1001}, "max_moves"),
    ({"max_moves": "2"}, "max_moves"),
    ({"plan": False}, "needs max_moves"),
    ({"app": "nomatch*"}, "no app matches 'nomatch*'"),
    ({"app": ""}, "app"),
    ({"moves": 2}, "moves"),
])
def test_bad_input_is_refused_naming_what(api, body, words):
    client, service = api
    before = containers(service)
    answer = client.post("/api/rebalance", json=body)
    assert answer.status_code == 400 and words in answer.json()["error"], answer.text
    assert containers(service) == before


def test_a_user_plans_and_moves_only_its_own_apps(api):
    client, service = api
    token = client.post("/api/login", json={"username": "bob", "password": "bob-Pw-0123456789"}).json()["token"]
    bob = {"Authorization": f"Bearer {token}"}
    nothing = client.post("/api/rebalance", json={}, headers=bob)  # bob owns no app yet: admins' are not his
    assert nothing.status_code == 200 and nothing.json()["moves"] == [], nothing.text
    hidden = client.post("/api/rebalance", json={"app": "web"}, headers=bob)
    assert hidden.status_code == 400 and "no app matches 'web'" in hidden.json()["error"], hidden.text

    mine = {**WEB, "name": "bobweb"}
    service.store.put_app(App("bobweb", mine, 2, "d1", "h1", owner="bob"))
    lab1 = service.cluster.engines["lab1"]
    added = [replica(mine, i, "lab1") for i in (1, 2)]
    lab1.containers.update({v.id: v for v in added})
    try:
        plan = client.post("/api/rebalance", json={}, headers=bob)
        assert plan.status_code == 200, plan.text
        assert plan.json()["moves"] and {m["app"] for m in plan.json()["moves"]} == {"bobweb"}
        everything = client.post("/api/rebalance", json={"max_moves": 100}).json()  # the admin: every app
        assert {"web", "bobweb"} <= {m["app"] for m in everything["moves"]}
    finally:
        for v in added:
            del lab1.containers[v.id]
        service.store.delete_app("bobweb")


def test_a_move_that_cannot_start_stops_the_run_and_removes_nothing(api):
    client, service = api
    before = containers(service)
    answer = client.post("/api/rebalance", json={"plan": False, "max_moves": 2})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["applied"] and not result["ok"] and result["moved"] == 0 and len(result["moves"]) == 1
    assert "not started on lab3" in result["moves"][0]["error"] and "stopped after 0 move(s)" in result["message"]
    assert containers(service) == before  # the replica still runs where it was
    moves = service.store.list_events(type="rebalance-move")
    assert len(moves) == 1 and "web replica 8 not moved lab2 -> lab3" in moves[0].message
    assert service.store.list_events(type="rebalance")[0].data["ok"] is False
    streamed = client.post("/api/rebalance", params={"stream": True}, json={"plan": False, "max_moves": 1})
    lines = [line for line in streamed.text.splitlines() if line]
    assert '"event": "step"' in lines[0] and "1 move planned" in lines[0] and '"event": "result"' in lines[-1]


def test_the_table_shows_each_move_and_what_became_of_it():
    moves = [RebalanceMove(app="web", replica=8, from_host="lab2", to_host="lab3", improvement=30.9375,
                           from_score=58.75, to_score=89.6875, done=True),
             RebalanceMove(app="web", replica=4, from_host="lab1", to_host="lab3", improvement=29.5, from_score=60,
                           to_score=89.5, error="not ready on lab3 in time")]
    console = Console(file=io.StringIO(), width=200)
    console.print(moves_view(RebalanceResult(applied=True, max_moves=2, moves=moves, ok=False, message="stopped")))
    lines = console.file.getvalue().splitlines()
    assert lines[0].split() == ["APP", "REPLICA", "FROM", "TO", "IMPROVEMENT", "RESULT"]
    assert lines[1].split() == ["web", "8", "lab2", "lab3", "+30.94", "moved"]
    assert "not ready on lab3 in time" in lines[2] and lines[-1] == "stopped"


@pytest.mark.parametrize("args, words", [
    (["--apply"], "--apply needs --max-moves N"),
    (["--max-moves", "0"], "'--max-moves' / '-n': Input should be greater than or equal to 1"),
    (["--apply", "--max-moves", "5000"], "'--max-moves' / '-n': Input should be less than or equal to 1000"),
])
def test_the_cli_refuses_a_bad_budget_before_calling_the_service(args, words):
    done = CliRunner().invoke(cli, ["rebalance", *args, "--server", "http://127.0.0.1:9"])
    assert done.exit_code == 2 and words in " ".join(done.output.replace("│", " ").split()), done.output


def test_the_schedule_is_off_by_default_and_a_run_makes_at_most_its_budget(api):
    from paasops.errors import UserInputError
    from paasops.service.rebalance import SCHEDULED_BY, RebalanceSchedule

    _, service = api
    assert ServiceSettings().rebalance_every == 0 and service.rebalance.every == 0
    off = RebalanceSchedule(service.apps, 0, 1)
    off.start()
    assert off._thread is None
    with pytest.raises(UserInputError, match="rebalance_budget: the move budget must be 1 to 1000, not 0"):
        RebalanceSchedule(service.apps, 60, 0)
    before = len(service.store.list_events(type="rebalance"))
    result = RebalanceSchedule(service.apps, 60, 1).run_once()
    assert result is not None and result.max_moves == 1 and len(result.moves) == 1  # it fails here: no engine
    last = service.store.list_events(type="rebalance")
    assert len(last) == before + 1 and last[0].user == SCHEDULED_BY


def test_a_move_made_stale_since_the_plan_is_not_made(api):
    from paasops.service.rebalance import Rebalancer

    _, service = api
    before = containers(service)
    rebalancer, said = Rebalancer(service.apps), []

    def move(replica: int, from_host: str) -> RebalanceMove:
        m = RebalanceMove(app="web", replica=replica, from_host=from_host, to_host="lab3", improvement=30,
                          from_score=60, to_score=90)
        rebalancer._move(m, "root", said.append, "[1/1]")
        return m

    assert "changed since the plan" in move(99, "lab2").error  # no replica 99 there
    assert "changed since the plan" in move(8, "lab1").error  # replica 8 runs on lab2
    lab3 = service.cluster.engines["lab3"].record
    lab3.unschedulable = True  # drained since the plan
    try:
        assert move(8, "lab2").error == ("lab3 no longer takes it (schedulable: drained (unschedulable until "
                                         "`paasops hosts undrain`))")
    finally:
        lab3.unschedulable = False
    assert containers(service) == before and len(said) == 3 and not any("starting" in line for line in said)
