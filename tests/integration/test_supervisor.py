"""Self-healing in `serve`: a replica killed behind paasops' back is replaced at once; a cut host's replicas
move after `reschedule_after` and the surplus goes when it returns, with no flapping."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest
from lab_support import api_call, api_login, hello_engine, lab_exec, local_engine_up, local_service, paasops
from test_host_suspect import BURST
from test_service_lab import _wait, service  # noqa: F401  (the module's `paasops serve` on the lab)

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:6]
APP = f"heal-{RUN}"
ADMIN_PW = "heal-admin-" + uuid.uuid4().hex
HELLO = {"image": "paasops/hello:latest", "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
         "ports": ["0:8080"], "memory": "32m", "cpus": 0.1}


def running(engine, app: str) -> dict[str, str]:
    """Each running replica of `app` on the local engine, id -> name, read from Docker itself."""
    return {c.id: c.name for c in engine.containers.list(filters={"label": f"paasops.app={app}"})}


def test_a_replica_killed_outside_paasops_is_replaced_within_5s(tmp_path):
    with hello_engine(APP) as engine, local_service(tmp_path, ADMIN_PW, local_engine_up(ADMIN_PW)) as url:
        token = api_login(url, "admin", ADMIN_PW)
        done = api_call(url, token, "POST", "/api/containers", json={"spec": {"name": APP, **HELLO}, "count": 3})
        assert done.status_code == 200 and done.json()["ok"], done.text
        before = running(engine, APP)
        assert sorted(before.values()) == [f"{APP}-1", f"{APP}-2", f"{APP}-3"]
        victim = next(i for i, name in before.items() if name == f"{APP}-2")
        engine.containers.get(victim).kill()
        took = _wait(lambda: len(now := running(engine, APP)) == 3 and victim not in now, 10, step=0.05)
        assert took is not None, running(engine, APP)
        print(f"\nkilled {APP}-2: a replacement ran {took:.2f}s later")
        assert took <= 5.0
        assert sorted(running(engine, APP).values()) == sorted(before.values())  # it took the dead one's number
        events = api_call(url, token, "GET", "/api/events", params={"app": APP, "type": "heal"}).json()
        assert events and "healed" in events[0]["message"], events
        assert {a["reason"] for e in events for a in e["data"]["actions"]} >= {"dead", "missing"}
        time.sleep(6)  # a sweep or more later: nothing else moved
        assert len(running(engine, APP)) == 3
        assert len(api_call(url, token, "GET", "/api/events", params={"app": APP, "type": "heal"}).json()) == \
            len(events)


SICK = f"sick-{RUN}"


def test_an_unhealthy_replica_is_replaced_new_first_and_the_budget_stops_the_loop(tmp_path):
    settings = {"PAASOPS_UNHEALTHY_GRACE": "2"}  # the budget: the app's count, 1 replacement a minute
    with hello_engine(SICK) as engine, \
            local_service(tmp_path, ADMIN_PW, local_engine_up(ADMIN_PW), settings=settings) as url:
        token = api_login(url, "admin", ADMIN_PW)
        spec = {"name": SICK, **HELLO, "health": {"cmd": ["false"], "interval": "500ms", "retries": 1}}
        done = api_call(url, token, "POST", "/api/containers", json={"spec": spec, "count": 1})
        assert done.status_code == 200 and done.json()["ok"], done.text

        def events(kind: str) -> list:
            return api_call(url, token, "GET", "/api/events", params={"app": SICK, "type": kind}).json()
        assert _wait(lambda: events("heal"), 20, step=0.2) is not None, running(engine, SICK)
        (heal,) = events("heal")
        actions = [(a["kind"], a["reason"], a["outcome"]) for a in heal["data"]["actions"]]
        assert actions == [("create", "missing", "ok"), ("destroy", "unhealthy", "ok")], heal  # new first
        assert sorted(running(engine, SICK).values()) == [f"{SICK}-2"]
        # the replacement fails its check too: the budget (1 a minute) defers the next one, said once
        assert _wait(lambda: events("heal-deferred"), 20, step=0.2) is not None, running(engine, SICK)
        time.sleep(3)
        assert len(events("heal")) == 1 and len(events("heal-deferred")) == 1
        assert "disruption budget" in events("heal-deferred")[0]["message"]
        assert sorted(running(engine, SICK).values()) == [f"{SICK}-2"]  # kept: nothing replaces it yet


CUT_APP = BURST.replace("name: burst", "name: moving") + "strategy: spread\nreschedule_after: 10s\n"
COUNT = 6


def _moving(api) -> list:
    return [c for c in api.containers(app="moving") if c.state == "running"]


def test_a_cut_host_moves_after_reschedule_after_and_the_surplus_goes_when_it_returns(service, tmp_path):  # noqa: F811
    api, env, lab = service
    app_yml = tmp_path / "moving.yml"
    app_yml.write_text(CUT_APP)
    assert paasops("deploy", str(app_yml), "--count", str(COUNT), env=env).returncode == 0
    before = _moving(api)
    cut = "lab2"
    on_cut = {c.id for c in before if c.engine == cut}
    assert on_cut, [(c.name, c.engine) for c in before]
    gateway = lab_exec(lab, cut, "ip -4 route show default").stdout.split()[2]
    start = time.monotonic()
    lab_exec(lab, cut, "ip link set eth0 down")
    try:
        suspect = _wait(lambda: api.engine(cut).status in ("suspect", "down"), 10, step=0.1)
        assert suspect is not None and suspect <= 3.0, (suspect, api.engine(cut).status)
        # within reschedule_after (10 s): nothing moves
        time.sleep(max(0.0, 6 - (time.monotonic() - start)))
        assert len([c for c in _moving(api) if c.engine != cut]) == COUNT - len(on_cut)

        def moved() -> bool:
            elsewhere = [c for c in _moving(api) if c.engine != cut]
            return len(elsewhere) == COUNT
        assert _wait(moved, 20 - (time.monotonic() - start), step=0.2) is not None
        took = time.monotonic() - start
        print(f"\n{cut} cut: {api.engine(cut).status} after {suspect:.1f}s; its {len(on_cut)} replicas ran "
              f"elsewhere {took:.1f}s after the cut")
        assert took <= 15.0
    finally:
        lab_exec(lab, cut, f"ip link set eth0 up && ip route replace default via {gateway}")
    assert _wait(lambda: api.engine(cut).status == "up", 60) is not None, api.engine(cut).status

    def exact() -> bool:
        now = _moving(api)
        return len(now) == COUNT and not any(c.id in on_cut for c in now) and \
            set(Counter(c.labels["paasops.replica"] for c in now).values()) == {1}
    back = _wait(exact, 30, step=0.2)
    assert back is not None, [(c.name, c.engine) for c in _moving(api)]
    settled = {c.id for c in _moving(api)}
    heals = [e for e in api.events(limit=200) if e.type in ("heal", "heal-deferred") and e.app == "moving"]
    print(f"{cut} back: its copies removed {back:.1f}s after it was up; {len(heals)} heal events")
    time.sleep(10)  # no flapping: nothing moves any more (bench/heal_soak.py watches 2 minutes)
    assert {c.id for c in _moving(api)} == settled
    assert len([e for e in api.events(limit=200) if e.type in ("heal", "heal-deferred") and e.app == "moving"]) \
        == len(heals)
    assert paasops("apps", "rm", "moving", env=env).returncode == 0
