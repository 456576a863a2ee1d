"""`paasops rebalance` on the lab: an app deployed while lab3 was drained, lab3 undrained (back empty); the plan moves
replicas onto it, and `--apply --max-moves 2` makes exactly 2, start-first (the ready count, sampled from the engines
every 200 ms, never below desired), each index still run once."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
from lab_support import paasops
from test_drain import Sampler, engines, ready_count, replicas  # noqa: F401  (the engines, straight)
from test_service_lab import _wait, service  # noqa: F401  (the module's `paasops serve` on the lab)

pytestmark = pytest.mark.integration

COUNT = 6
APP = ("name: rb-web\nimage: paasops/hello:latest\ncommand: [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n"
       "cpus: 0.25\nmemory: 64m\nhealth: {http: /index.html, port: 8080, interval: 1s, timeout: 1s, retries: 2}\n")


def placed(engines, app: str) -> dict[str, list[int]]:  # noqa: F811
    """Engine -> the replica indexes of the app running there, as the engines list them."""
    return {name: sorted(int(c["Labels"]["paasops.replica"]) for c in listed if c["State"] == "running")
            for name, listed in replicas(engines, app).items()}


def rebalance(env: dict, *args: str) -> tuple[int, dict, str]:
    done = paasops("rebalance", *args, "-o", "json", env=env)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}, done.stderr


def test_a_host_back_empty_gets_moves_and_apply_makes_exactly_the_budget(service, engines, tmp_path):  # noqa: F811
    api, env, _ = service
    paasops("hosts", "drain", "lab3", env=env, check=True)  # empty: drained at once
    app_yml = tmp_path / "rb-web.yml"
    app_yml.write_text(APP)
    deployed = paasops("deploy", str(app_yml), "--count", str(COUNT), "-o", "json", env=env)
    assert deployed.returncode == 0, deployed.stderr
    assert _wait(lambda: ready_count(engines, "rb-web") == COUNT, 60) is not None
    before = placed(engines, "rb-web")
    assert before["lab3"] == [] and sum(map(len, before.values())) == COUNT, before
    assert "takes placements again" in paasops("hosts", "undrain", "lab3", env=env, check=True).stdout

    code, plan, err = rebalance(env, "--plan")
    assert code == 0, err
    moves = plan["moves"]
    assert len(moves) >= 2 and {m["to_host"] for m in moves} == {"lab3"}, moves
    assert all(m["app"] == "rb-web" and m["improvement"] > 1 for m in moves)
    assert all(m["replica"] in before[m["from_host"]] for m in moves[:2])  # replicas that run there now
    assert [m["improvement"] for m in moves] == sorted((m["improvement"] for m in moves), reverse=True)
    table = paasops("rebalance", "--plan", env={**env, "COLUMNS": "200"}, check=True).stdout
    assert "IMPROVEMENT" in table and "lab3" in table
    assert placed(engines, "rb-web") == before  # a plan changes nothing

    sampler = Sampler(engines, "rb-web")
    sampler.start()
    start = time.monotonic()
    try:
        done = paasops("rebalance", "--apply", "--max-moves", "2", env={**env, "COLUMNS": "200"})
    finally:
        took = time.monotonic() - start
        sampler.stopping.set()
        sampler.join()
    print(f"\nrebalance --apply --max-moves 2: {took:.1f}s; ready counts sampled: min {min(sampler.samples)} of "
          f"{len(sampler.samples)} samples\n{done.stderr}{done.stdout}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 replica(s) moved" in done.stdout and done.stderr.count("moved") >= 2  # a progress line per move
    assert len(sampler.samples) >= 5 and min(sampler.samples) >= COUNT, sampler.samples
    after = placed(engines, "rb-web")
    assert len(after["lab3"]) == 2, after
    assert sorted(Counter(i for indexes in after.values() for i in indexes).items()) == [
        (i, 1) for i in range(1, COUNT + 1)]
    for m in moves[:2]:  # exactly the first two moves of the plan
        assert m["replica"] in after["lab3"] and m["replica"] not in after[m["from_host"]]
    events = api.events(type="rebalance-move")
    assert len(events) == 2 and all("moved" in e.message for e in events)
    assert api.events(type="rebalance")[0].data["moved"] == 2

    code, rest, err = rebalance(env, "--apply", "--max-moves", "10", "--app", "rb-*")  # the rest of the plan
    assert code == 0 and rest["ok"] and rest["moved"] == len(moves) - 2, err
    code, again, err = rebalance(env, "--plan")
    assert code == 0 and again["moves"] == [] and "balanced" in again["message"], again  # no ping-pong
    assert ready_count(engines, "rb-web") == COUNT

    bad = paasops("rebalance", "--plan", "--app", "nomatch*", env=env)
    assert bad.returncode != 0 and "no app matches 'nomatch*'" in bad.stderr, bad.stderr
    assert paasops("apps", "rm", "rb-web", env=env).returncode == 0
