"""`paasops reconcile` and `paasops report` through the real CLI against a real `paasops serve` (local engine).

Other tests (and people) run paasops apps on this same dockerd, and this service's store does not
know them: to a whole-engine reconcile they are orphans. Every run here is therefore scoped with
`--app PATTERN` to this module's own apps, which all start with APP.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import docker
import httpx
import pytest
import yaml
from lab_support import free_port, local_service

from paasops.lab.hello_image import ensure_hello_image

ROOT = Path(__file__).resolve().parents[2]
APP = f"rectest-{uuid.uuid4().hex[:6]}"
SCOPE = ["--app", f"{APP}*"]
PLAIN_LABEL = "paasops.test.reconcile"  # containers of ours without paasops.app: never to be touched
ADMIN_PASSWORD = f"reconcile-{uuid.uuid4().hex}"
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|@import|url\(""", re.I)


def eventually(check, timeout: float = 10.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class Cli:
    """Runs `python -m paasops …` against one server with its own config dir; returns CompletedProcess."""

    def __init__(self, server: str, config_home: Path):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")}
        self.env.update(PAASOPS_SERVER=server, COLUMNS="200", XDG_CONFIG_HOME=str(config_home))

    def __call__(self, *args: str, ok: bool = True, input: str | None = None,
                 timeout: float = 180) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "paasops", *args], capture_output=True, text=True,
                              timeout=timeout, cwd=ROOT, env=self.env, input=input)
        if ok and done.returncode != 0:
            raise AssertionError(f"paasops {' '.join(args)} exited {done.returncode}\n"
                                 f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}")
        return done

    def json(self, *args: str):
        return json.loads(self(*args, "-o", "json").stdout)

    def reconcile(self, *args: str) -> tuple[int, dict]:
        done = self("reconcile", *SCOPE, *args, "-o", "json", ok=False)
        assert done.returncode in (0, 10), done
        return done.returncode, json.loads(done.stdout)


@pytest.fixture(scope="module")
def engine():
    client = docker.from_env()
    ensure_hello_image(client)
    yield client
    for c in client.containers.list(all=True, filters={"label": [PLAIN_LABEL + "=" + APP]}) + \
            [c for c in client.containers.list(all=True, filters={"label": ["paasops.app"]})
             if c.labels.get("paasops.app", "").startswith(APP)]:
        c.remove(force=True)
    client.close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("reconcile")
    spec = yaml.safe_load((ROOT / "examples" / "app.yml").read_text())
    # small: the local engine is shared with other tests and has few CPUs
    spec.update(name=APP, cpus=0.1, memory="32m", count=3)
    (path / "app.yml").write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture(scope="module")
def server(engine, workdir):
    def ready(url: str) -> bool:
        return httpx.get(f"{url}/healthz", timeout=1).json().get("engines") == 1

    # the supervisor off: these tests make drift by hand and look at reconcile's plan of it
    with local_service(workdir, ADMIN_PASSWORD, ready, settings={"PAASOPS_SUPERVISE": "0"}) as url:
        yield url


@pytest.fixture(scope="module")
def cli(server, workdir) -> Cli:
    cli = Cli(server, workdir / "config")
    login = cli("login", "-u", "admin", "--password-stdin", input=ADMIN_PASSWORD + "\n", ok=False)
    assert login.returncode == 0 or "No such command" in login.stderr, login  # before accounts: no login
    assert eventually(lambda: [h["status"] for h in cli.json("hosts", "list")] == ["up"], timeout=20)
    return cli


@pytest.fixture(scope="module")
def plain(engine):
    """Containers without paasops labels, one running and one exited: reconcile never touches them."""
    running = engine.containers.run("paasops/hello:latest", ["sleep", "600"], detach=True,
                                    labels={PLAIN_LABEL: APP}, name=f"{APP}-plain-running")
    exited = engine.containers.run("paasops/hello:latest", ["sleep", "0"], detach=True,
                                   labels={PLAIN_LABEL: APP}, name=f"{APP}-plain-exited")
    exited.wait(timeout=30)
    return [running.id, exited.id]


def replicas(engine) -> list:
    return engine.containers.list(filters={"label": [f"paasops.app={APP}"], "status": "running"})


def by_hand(engine, labels: dict, name: str, command=("httpd", "-f", "-p", "8080", "-h", "/www")):
    return engine.containers.run("paasops/hello:latest", list(command), detach=True, labels=labels, name=name)


def brief(actions: list[dict]) -> list[tuple]:
    return sorted((a["kind"], a["reason"], a.get("count") or a.get("name")) for a in actions)


# -- the flow, in order ---------------------------------------------------------------------------
def test_deployed_app_is_in_sync(cli, engine, workdir, plain):
    cli("deploy", str(workdir / "app.yml"), "--count", "3")
    assert len(replicas(engine)) == 3
    assert cli.reconcile("--dry-run")[0] == 0
    code, result = cli.reconcile()
    assert code == 0 and result["actions"] == [] and result["in_sync"] is True
    table = cli("reconcile", *SCOPE)
    assert table.returncode == 0 and "in sync: nothing to do" in table.stdout


def test_a_replica_killed_behind_our_back_is_recreated(cli, engine):
    victim = replicas(engine)[0]
    victim.remove(force=True)
    code, plan = cli.reconcile("--dry-run")
    assert code == 10 and brief(plan["actions"]) == [("create", "missing", 1)]
    assert plan["actions"][0]["outcome"] == "planned" and plan["dry_run"] is True
    shown = cli("reconcile", *SCOPE, "--dry-run", ok=False)
    assert shown.returncode == 10 and "plan: create 1 replica (missing)" in shown.stdout
    assert len(replicas(engine)) == 2  # a dry run changes nothing

    code, result = cli.reconcile()
    assert code == 10, result
    assert [a["outcome"] for a in result["actions"]] == ["ok"] and result["in_sync"] is True
    assert len(replicas(engine)) == 3 and victim.id not in {c.id for c in replicas(engine)}
    assert cli.reconcile()[0] == 0


def test_a_duplicate_made_by_hand_is_removed(cli, engine):
    before = {c.id for c in replicas(engine)}
    labels = dict(replicas(engine)[0].labels)
    copy = by_hand(engine, labels, f"{APP}-copy")
    code, result = cli.reconcile()
    assert code == 10, result
    assert brief(result["actions"]) == [("destroy", "duplicate", f"{APP}-copy")]
    assert {c.id for c in replicas(engine)} == before
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(copy.id)


def test_orphans_are_removed(cli, engine):
    before = {c.id for c in replicas(engine)}
    labels = dict(replicas(engine)[0].labels)
    by_hand(engine, {**labels, "paasops.app": f"{APP}-ghost"}, f"{APP}-ghost-1")  # an app never deployed
    by_hand(engine, {**labels, "paasops.spec-hash": "0" * 16}, f"{APP}-old")  # a spec that is not current
    code, result = cli.reconcile()
    assert code == 10, result
    assert brief(result["actions"]) == [("destroy", "orphan", f"{APP}-ghost-1"), ("destroy", "orphan", f"{APP}-old")]
    assert {c.id for c in replicas(engine)} == before
    assert engine.containers.list(all=True, filters={"label": [f"paasops.app={APP}-ghost"]}) == []


def test_a_stopped_replica_is_dead_and_removed(cli, engine, plain):
    before = {c.id for c in replicas(engine)}
    dead = by_hand(engine, dict(replicas(engine)[0].labels), f"{APP}-stopped", command=["sleep", "0"])
    dead.wait(timeout=30)
    code, result = cli.reconcile()
    assert code == 10, result
    assert brief(result["actions"]) == [("destroy", "dead", f"{APP}-stopped")]
    assert {c.id for c in replicas(engine)} == before
    for container_id in plain:  # never touched: no paasops.app label
        engine.containers.get(container_id)


def test_a_second_run_while_one_holds_the_lock_exits_12(cli, workdir):
    with open(workdir / "reconcile.lock", "a+") as held:  # the file lock of embedded mode
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = cli("reconcile", *SCOPE, ok=False)
        assert done.returncode == 12, done
        assert "another reconcile is running" in done.stderr
        assert cli("reconcile", *SCOPE, "--dry-run", ok=False).returncode == 0  # a dry run takes no lock
    assert cli("reconcile", *SCOPE, ok=False).returncode == 0


def test_two_concurrent_runs_one_exits_12(cli, engine):
    for c in replicas(engine)[:2]:
        c.remove(force=True)
    codes, outputs = [], []
    start = threading.Barrier(2)

    def run():
        start.wait()
        done = cli("reconcile", *SCOPE, ok=False)
        codes.append(done.returncode)
        outputs.append(done)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [10, 12], outputs
    assert len(replicas(engine)) == 3
    assert cli.reconcile()[0] == 0


def test_events_record_each_run(cli):
    found = cli.json("events", "--type", "reconcile", "--limit", "20")
    assert found and all(e["type"] == "reconcile" for e in found)
    assert "created 2 replicas (missing)" in found[0]["message"] and "now in sync" in found[0]["message"]
    assert any("1 dead" in e["message"] for e in found)


# -- report -------------------------------------------------------------------------------------
def test_report_json_numbers_match(cli):
    report = cli.json("report")
    assert abs(report["generated_at"] - time.time()) < 60
    local = cli.json("hosts", "inspect", "local")
    [host] = report["hosts"]
    assert (host["id"], host["status"], host["cpus"], host["memory_mb"]) == \
        ("local", "up", local["cpus"], local["memory_mb"])
    assert host["reserved_cpus"] == pytest.approx(local["reserved_cpus"])
    assert host["reserved_memory_mb"] == local["reserved_memory_mb"]
    assert host["cpu_percent"] == pytest.approx(round(local["reserved_cpus"] / local["cpus"] * 100, 1))
    assert report["hosts_down"] == []
    [mine] = [a for a in report["apps"] if a["name"] == APP]
    assert (mine["desired"], mine["running"], mine["missing"], mine["in_sync"]) == (3, 3, 0, True)
    assert mine["hosts"] == {"local": 3}
    times = [e["time"] for e in report["events"]]
    assert times == sorted(times, reverse=True) and len(times) <= 50
    assert all(e["time"] > time.time() - 86400 for e in report["events"])
    assert any(e["type"] == "reconcile" for e in report["events"])
    table = cli("report").stdout
    assert APP in table and "local" in table and "in sync" in table


def test_report_html_is_self_contained(cli, workdir):
    page = workdir / "report.html"
    done = cli("report", "-o", "html", "--out", str(page))
    assert "report written to" in done.stderr
    text = page.read_text()
    assert text.startswith("<!doctype html>") and "<svg" in text and APP in text
    assert not EXTERNAL.search(text) and "<link" not in text and "<script" not in text
    shown = cli("report", "-o", "html").stdout  # without --out: on stdout
    assert shown.startswith("<!doctype html>") and "<svg" in shown and APP in shown


# -- bad input and no service ---------------------------------------------------------------------
def test_bad_input_and_no_service(cli, workdir):
    assert cli("reconcile", "-o", "xml", ok=False).returncode == 2
    assert cli("report", "-o", "pdf", ok=False).returncode == 2
    assert cli("report", "--out", str(workdir / "no" / "such" / "dir.html"), ok=False).returncode == 2
    gone = f"http://127.0.0.1:{free_port()}"
    for args in (["reconcile"], ["reconcile", "--dry-run"], ["report"]):
        done = cli(*args, "--server", gone, ok=False)
        assert done.returncode == 5, done
        assert "not reachable" in done.stderr
