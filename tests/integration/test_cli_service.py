"""The real CLI against a real `paasops serve` (local engine, SQLite) on this machine's dockerd."""

from __future__ import annotations

import json
import os
import queue
import signal
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
from paasops.pki import ensure_ca, ensure_client_cert, issue_server_cert

ROOT = Path(__file__).resolve().parents[2]
APP = f"clitest-{uuid.uuid4().hex[:6]}"
AMBIGUOUS_LABEL = "paasops.test.cli-ambiguous"
RESERVING = {"created", "running", "restarting", "paused"}
ADMIN_PASSWORD = "cli-test-" + uuid.uuid4().hex  # the first admin's, given to `serve` on first start


class Cli:
    """Runs `python -m paasops …` against one server; returns CompletedProcess (text)."""

    def __init__(self, server: str, config: Path | None = None):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")}
        self.env["PAASOPS_SERVER"] = server
        self.env["COLUMNS"] = "200"
        if config is not None:  # where `paasops login` keeps the token
            self.env["XDG_CONFIG_HOME"] = str(config)

    def login(self) -> None:
        self("login", "--username", "admin", "--password-stdin", input=ADMIN_PASSWORD + "\n")

    def __call__(self, *args: str, ok: bool = True, timeout: float = 120,
                 input: str | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "paasops", *args], capture_output=True, text=True,
                              timeout=timeout, cwd=ROOT, env=self.env, input=input)
        if ok and done.returncode != 0:
            raise AssertionError(f"paasops {' '.join(args)} exited {done.returncode}\n"
                                 f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}")
        return done

    def json(self, *args: str):
        return json.loads(self(*args, "-o", "json").stdout)


def eventually(check, timeout: float = 10.0, interval: float = 0.2):
    """check() until it returns truthy; the last value (or the last AssertionError) otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            return value
        time.sleep(interval)


class Lines:
    """A command's stdout line by line, with a timeout (a silent stream must fail the test, not hang it)."""

    def __init__(self, cli: Cli, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "paasops", *args], cwd=ROOT, env=cli.env,
                                     stdout=subprocess.PIPE, text=True)
        self.queue: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [self.queue.put(line) for line in self.proc.stdout], daemon=True).start()

    def next(self, timeout: float = 15.0) -> str:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line in {timeout}s") from None

    def __enter__(self) -> Lines:
        return self

    def __exit__(self, *exc) -> None:
        self.proc.kill()
        self.proc.wait()


def app_containers(client, app: str = APP, all: bool = True):
    return client.containers.list(all=all, filters={"label": f"paasops.app={app}"})


@pytest.fixture(scope="module")
def engine():
    client = docker.from_env()
    ensure_hello_image(client)
    yield client
    for c in client.containers.list(all=True, filters={"label": [f"paasops.app={APP}"]}) + \
            client.containers.list(all=True, filters={"label": [AMBIGUOUS_LABEL]}) + \
            client.containers.list(all=True, filters={"label": [f"paasops.app={APP}-bad"]}):
        c.remove(force=True)
    client.close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli")
    ca = ensure_ca(path / "pki")  # a real CA, so adding an engine fails on the network, not on TLS files
    ensure_client_cert(path / "pki", ca)
    spec = yaml.safe_load((ROOT / "examples" / "app.yml").read_text())
    spec["name"] = APP  # our own app: other tests may run `hello` on the same engine
    spec.pop("expose")  # these tests deploy several apps from this spec; one hostname routes to one app only
    spec["command"] = [*spec["command"], "-v"]  # httpd logs every request, so `logs` has something to show
    (path / "app.yml").write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture(scope="module")
def server(engine, workdir):
    auth = {}

    def ready(url: str) -> bool:
        if not auth:
            login = {"username": "admin", "password": ADMIN_PASSWORD}
            auth["X-Access-Token"] = httpx.post(f"{url}/api/login", json=login, timeout=10).json()["token"]
        engines = httpx.get(f"{url}/api/engines", headers=auth, timeout=1).json()
        return [e["status"] for e in engines] == ["up"]

    with local_service(workdir, ADMIN_PASSWORD, ready) as url:
        yield url


@pytest.fixture(scope="module")
def cli(server, workdir) -> Cli:
    cli = Cli(server, workdir / "config")
    cli.login()
    return cli


def replicas(cli: Cli) -> list[dict]:
    return [c for c in cli.json("ps", "--all", "--app", APP) if c["state"] in RESERVING]


# -- input refused before anything starts ---------------------------------------------------------
def test_serve_refuses_plain_http_off_loopback(workdir):
    done = Cli("http://unused")("serve", "--host", "0.0.0.0", "--port", str(free_port()), "--state",
                                f"sqlite:///{workdir}/refused.db", ok=False, timeout=30)
    assert done.returncode == 2
    assert "refusing to serve plain HTTP on 0.0.0.0" in done.stderr
    assert "--tls-cert" in done.stderr and "--insecure-http" in done.stderr
    assert not (workdir / "refused.db").exists()


@pytest.mark.parametrize("change, field", [
    ({"cpus": "lots"}, "cpus: must be a number, got 'lots'"),
    ({"imagee": "x"}, "unknown field 'imagee' (did you mean 'image'?)"),
    ({"count": -1}, "count: must be >= 0, got -1"),
    ({"ports": ["8080:80:1"]}, "ports[0]"),
])
def test_malformed_app_yml_exits_2_naming_the_field(cli, engine, workdir, change, field):
    spec = {**yaml.safe_load((workdir / "app.yml").read_text()), "name": f"{APP}-bad", **change}
    bad = workdir / "bad.yml"
    bad.write_text(yaml.safe_dump(spec))
    done = cli("deploy", str(bad), ok=False)
    assert done.returncode == 2, done
    assert field in done.stderr
    assert str(bad) in done.stderr
    assert app_containers(engine, f"{APP}-bad") == []


def test_memory_larger_than_any_host_is_refused_by_the_service(cli, engine, workdir):
    spec = {**yaml.safe_load((workdir / "app.yml").read_text()), "name": f"{APP}-bad", "memory": "1t"}
    bad = workdir / "huge.yml"
    bad.write_text(yaml.safe_dump(spec))
    for args in (["--dry-run"], []):
        done = cli("deploy", str(bad), "--count", "1", *args, ok=False)
        assert done.returncode == 2, done  # PlacementError (a 409 from the API): bad input
        assert f"no host can take replica 1 of {APP}-bad" in done.stderr and "local" in done.stderr
        assert "memory" in done.stderr
    assert app_containers(engine, f"{APP}-bad") == []
    assert cli.json("ps", "--all", "--app", f"{APP}-bad") == []


# -- deploy ---------------------------------------------------------------------------------------------
def test_dry_run_prints_the_plan_and_starts_nothing(cli, engine, workdir):
    local = cli.json("hosts", "inspect", "local")
    plan = cli.json("deploy", str(workdir / "app.yml"), "--count", "3", "--dry-run")
    assert plan["dry_run"] is True and plan["count"] == 3
    assert [(a["replica"], a["host"]) for a in plan["plan"]] == [(0, "local"), (1, "local"), (2, "local")]
    row = plan["explanation"][0]
    # the thesis score with the engine's own totals: cpu = (1 - (reserved + 0.5)/total) * 65, mem alike * 35
    assert row["cpu"] == pytest.approx((1 - (local["reserved_cpus"] + 0.5) / local["cpus"]) * 65)
    assert row["memory"] == pytest.approx((1 - (local["reserved_memory_mb"] + 128) / local["memory_mb"]) * 35)
    assert row["score"] == pytest.approx(row["cpu"] + row["memory"])
    table = cli("deploy", str(workdir / "app.yml"), "--count", "3", "--dry-run").stdout
    assert f"plan: 3 replicas of {APP} (thesis)" in table
    assert ["local", "fits", f"{row['score']:.2f}", f"{row['cpu']:.2f}", f"{row['memory']:.2f}", "0", "3"] in \
        [line.split() for line in table.splitlines()]
    assert app_containers(engine) == []
    assert cli.json("ps", "--all", "--app", APP) == []


def test_deploy_three_replicas_that_answer_http(cli, engine, workdir):
    done = cli("deploy", str(workdir / "app.yml"), "--count", "3")
    assert f"{APP}: 3 replicas, 3 running" in done.stdout
    rows = [line.split() for line in done.stdout.splitlines()[2:] if line.strip()]
    assert sorted(r[3] for r in rows) == [f"{APP}-1", f"{APP}-2", f"{APP}-3"]
    assert all(r[1] == "local" and r[-1] == "running" and len(r[2]) == 12 for r in rows)
    running = [c for c in cli.json("ps", "--app", APP)]
    assert len(running) == 3 and {c["state"] for c in running} == {"running"}
    assert {c.id for c in app_containers(engine, all=False)} == {c["id"] for c in running}
    for c in running:
        port = c["ports"][0]["host_port"]
        page = eventually(lambda p=port: httpx.get(f"http://127.0.0.1:{p}/", timeout=2).text, timeout=10)
        assert "hello from paasops" in page
    assert [(a["name"], a["count"], a["replicas"]) for a in cli.json("apps")] == [(APP, 3, 3)]


def test_ps_table_and_inspect_by_prefix(cli):
    one = sorted(replicas(cli), key=lambda c: c["name"])[0]
    table = cli("ps", "--app", APP).stdout
    assert one["id"][:12] in table and one["id"] not in table and f"{APP}-1" in table
    detail = cli.json("inspect", one["id"][:8])
    assert detail["id"] == one["id"] and detail["engine"] == "local"
    assert detail["inspect"]["Config"]["Labels"]["paasops.app"] == APP
    shown = cli("inspect", one["id"][:8]).stdout
    assert f"name        {APP}-1" in shown and "ip address" in shown
    assert cli.json("inspect", f"{APP}-1")["id"] == one["id"]  # by name too


def test_ambiguous_prefix_lists_the_candidates(cli, engine):
    mine = {c["id"] for c in replicas(cli)}
    created = []
    try:
        pair = None
        while pair is None and len(created) < 600:  # a 3-hex-digit prefix repeats after ~80 ids
            c = engine.containers.create("paasops/hello:latest", ["sleep", "1"], labels={AMBIGUOUS_LABEL: APP})
            created.append(c.id)
            by_prefix = {}
            for cid in mine | set(created):
                by_prefix.setdefault(cid[:3], []).append(cid)
            pair = next((ids for ids in by_prefix.values() if len(ids) > 1), None)
        assert pair, "no two ids shared a prefix"
        # the containers made here are not paasops': an admin looks at them with --foreign
        eventually(lambda: set(pair) <= {c["id"] for c in cli.json("ps", "--all", "--foreign")})
        done = cli("inspect", "--foreign", pair[0][:3], ok=False)
        assert done.returncode == 2, done
        assert f"id prefix '{pair[0][:3]}' is ambiguous" in done.stderr
        assert pair[0][:12] in done.stderr and pair[1][:12] in done.stderr
    finally:
        for cid in created:
            engine.api.remove_container(cid, force=True)


def test_unknown_id_is_a_clear_error(cli):
    for command in (["inspect"], ["stop"], ["logs"], ["rm"]):
        done = cli(*command, "nosuchcontainer", ok=False)
        assert done.returncode == 3, done
        assert "error: containers: no container 'nosuchcontainer'" in done.stderr


def test_logs(cli):
    one = replicas(cli)[0]
    port = one["ports"][0]["host_port"]
    httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
    logs = eventually(lambda: cli("logs", one["id"][:12]).stdout, timeout=10)
    assert "response:200" in logs
    assert len(cli("logs", one["id"][:12], "--tail", "1").stdout.strip().splitlines()) == 1
    with Lines(cli, "logs", "-f", "--tail", "1", one["id"][:12]) as follow:
        assert "response:200" in follow.next()
        httpx.get(f"http://127.0.0.1:{port}/again", timeout=5)
        assert "response:404" in follow.next()  # streamed as it happens


def test_stop_start_restart(cli, engine):
    name = f"{APP}-1"
    assert cli("stop", name).stdout.startswith("stopped ")
    assert engine.containers.get(name).status == "exited"
    assert eventually(lambda: [c["state"] for c in cli.json("ps", "-a", "--app", APP) if c["name"] == name]
                      == ["exited"])
    assert name not in [c["name"] for c in cli.json("ps", "--app", APP)]
    started = cli.json("start", name)
    assert started["state"] == "running" and engine.containers.get(name).status == "running"
    before = engine.containers.get(name).attrs["State"]["StartedAt"]
    assert cli("restart", name).stdout.startswith("restarted ")
    after = engine.containers.get(name)
    assert after.status == "running" and after.attrs["State"]["StartedAt"] != before


def test_scale_3_to_1_to_2(cli, engine):
    spec_hash = replicas(cli)[0]["spec_hash"]
    down = cli.json("scale", APP, "1")
    assert (down["before"], down["count"], len(down["removed"])) == (3, 1, 2)
    assert len(replicas(cli)) == 1 and len(app_containers(engine)) == 1
    up = cli("scale", APP, "2").stdout
    assert f"{APP}: 1 -> 2 replicas, 2 running" in up
    now = replicas(cli)
    assert len(now) == 2 and {c["spec_hash"] for c in now} == {spec_hash}
    assert {c.id for c in app_containers(engine)} == {c["id"] for c in now}
    assert [(a["count"], a["replicas"]) for a in cli.json("apps")] == [(2, 2)]


def test_cluster_info_numbers(cli, engine):
    info_docker = engine.info()

    def agrees():
        info = cli.json("cluster", "info")
        listed = engine.containers.list(all=True, sparse=True)
        mine = [c for c in listed if "paasops.app" in (c.attrs.get("Labels") or {})
                and c.attrs.get("State") in RESERVING]
        reserved = sum(float(c.attrs["Labels"].get("paasops.cpus", 0)) for c in mine)
        memory = sum(int(c.attrs["Labels"].get("paasops.memory-mb", 0)) for c in mine)
        assert (info["containers"], info["reserved_cpus"], info["reserved_memory_mb"]) == \
            (len(listed), pytest.approx(reserved), memory)
        return info

    info = eventually(agrees, timeout=10)
    assert (info["engines"], info["engines_up"]) == (1, 1)
    assert info["cpus"] == info_docker["NCPU"]
    assert info["memory_mb"] == info_docker["MemTotal"] // (1024 * 1024)
    assert info["reserved_cpus"] >= 1.0 and info["reserved_memory_mb"] >= 256  # our 2 replicas at least
    assert info["hosts"][0]["id"] == "local"
    table = cli("cluster", "info").stdout
    assert "engines     1 up of 1" in table
    assert f"of {info_docker['NCPU']:g}" in table


def test_adding_an_unreachable_engine_fails_and_changes_nothing(cli):
    before = cli.json("hosts", "list")
    started = time.monotonic()
    done = cli("hosts", "add", "192.0.2.1", "--id", "ghost", "--label", "zone=a", ok=False)
    assert done.returncode == 2, done  # a 400 from the API
    assert "error: engine ghost: engine does not answer at https://192.0.2.1:2376: unreachable" in done.stderr
    assert time.monotonic() - started < 30
    assert [(h["id"], h["address"]) for h in cli.json("hosts", "list")] == \
        [(h["id"], h["address"]) for h in before] == [("local", "local")]
    assert cli.json("events", "--type", "add-engine", "--host", "ghost") == []
    missing = cli("hosts", "inspect", "ghost", ok=False)
    assert missing.returncode == 3 and "no engine 'ghost'" in missing.stderr
    assert "local" in cli("hosts", "list").stdout


def test_rm(cli, engine):
    ids = [c["id"][:12] for c in replicas(cli)]
    done = cli("rm", *ids)
    assert done.stdout.split() == [w for i in ids for w in ("removed", i)]
    assert not {c.id[:12] for c in app_containers(engine)} & set(ids)
    # the app still wants its replicas: the supervisor starts new ones in their place (self-healing)
    assert eventually(lambda: len([c for c in cli.json("ps", "--app", APP) if c["id"][:12] not in ids]) == len(ids))


def test_events_hold_operations_and_docker_events(cli):
    def types():
        found = cli.json("events", "--app", APP, "--limit", "1000")
        return found, {(e["tag"], e["type"]) for e in found}

    found, seen = eventually(lambda: (lambda f, t: (f, t) if ("docker", "destroy") in t else None)(*types()))
    for kind in ("run-container", "stop-container", "start-container", "restart-container",
                 "destroy-container", "scale-container", "deploy-app"):
        assert ("api", kind) in seen, kind
    for kind in ("create", "start", "die", "destroy"):
        assert ("docker", kind) in seen, kind
    times = [e["time"] for e in found]
    assert times == sorted(times, reverse=True)  # newest first
    dies = cli.json("events", "--app", APP, "--type", "die")
    assert dies and {e["type"] for e in dies} == {"die"}
    assert "run-container" in cli("events", "--app", APP, "--since", "1h").stdout
    assert cli.json("events", "--app", APP, "--since", str(time.time() + 60)) == []


def test_events_follow_prints_new_events(cli, engine):
    with Lines(cli, "events", "--follow", "--app", APP, "--limit", "1", "-o", "json") as follow:
        time.sleep(1.5)  # following already
        c = engine.containers.run("paasops/hello:latest", ["sleep", "0"], detach=True,
                                  labels={"paasops.app": APP, AMBIGUOUS_LABEL: APP})
        try:
            seen = set()
            while not {"create", "start", "die"} <= seen:
                event = json.loads(follow.next())
                if event["container"] == c.id:
                    seen.add(event["type"])
        finally:
            c.remove(force=True)


def test_apps_rm_destroys_the_replicas_and_forgets_the_app(cli, engine, workdir):
    name = f"{APP}-gone"
    spec = yaml.safe_load((workdir / "app.yml").read_text())
    (workdir / "gone.yml").write_text(yaml.safe_dump({**spec, "name": name}))
    try:
        cli("deploy", str(workdir / "gone.yml"), "--count", "2")
        assert len(app_containers(engine, name)) == 2
        done = cli.json("apps", "rm", name)
        assert done["deleted"] == name and len(done["removed"]) == 2
        assert app_containers(engine, name) == []
        assert name not in [a["name"] for a in cli.json("apps")]
        assert [e["type"] for e in cli.json("events", "--app", name, "--type", "delete-app")] == ["delete-app"]
        again = cli("apps", "rm", name, ok=False)
        assert again.returncode == 3 and f"no app '{name}'" in again.stderr
    finally:
        for c in app_containers(engine, name):
            c.remove(force=True)


def test_large_bodies_are_refused_unread_and_callers_checked_before_the_body(server, cli):
    token = httpx.post(f"{server}/api/login", json={"username": "admin", "password": ADMIN_PASSWORD},
                       timeout=10).json()["token"]
    big = b'{"count": 1, "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    started = time.monotonic()
    answer = httpx.post(f"{server}/api/apps/{APP}/scale", content=big, timeout=30,
                        headers={"X-Access-Token": token, "Content-Type": "application/json"})
    assert answer.status_code == 413, answer.text
    assert "request body larger than 1048576 bytes" in answer.json()["error"]
    assert time.monotonic() - started < 10
    bad = httpx.post(f"{server}/api/apps/{APP}/scale", content=b"{not json", timeout=10,
                     headers={"Content-Type": "application/json"})
    assert bad.status_code == 401, bad.text  # not 400: the body of an unknown caller is never parsed
    assert httpx.post(f"{server}/api/apps/{APP}/scale", content=big, timeout=30).status_code == 413

    def chunks():
        for _ in range(6):
            yield b"x" * (256 * 1024)

    chunked = httpx.post(f"{server}/api/apps/{APP}/scale", content=chunks(), timeout=30,
                         headers={"X-Access-Token": token, "Content-Type": "application/json"})
    assert chunked.status_code == 413, chunked.text
    assert cli.json("apps") is not None  # the service still answers


def test_unreachable_service(workdir):
    done = Cli(f"http://127.0.0.1:{free_port()}")("ps", ok=False)
    assert done.returncode == 5
    assert "paasops service not reachable at http://127.0.0.1:" in done.stderr
    assert "is `paasops serve` running?" in done.stderr


def test_https_with_a_certificate_from_the_cluster_ca(workdir):
    ca = ensure_ca(workdir / "pki")
    cert, key = issue_server_cert(ca, "paasops-api", ["127.0.0.1"])
    (workdir / "api-cert.pem").write_bytes(cert)
    (workdir / "api-key.pem").write_bytes(key)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")}
    env["PAASOPS_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    proc = subprocess.Popen([sys.executable, "-m", "paasops", "serve", "--port", str(port),
                             "--state", f"sqlite:///{workdir}/tls.db", "--tls-cert", str(workdir / "api-cert.pem"),
                             "--tls-key", str(workdir / "api-key.pem")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cli = Cli(f"https://127.0.0.1:{port}", workdir / "tls-config")
        cli.env["PAASOPS_PKI_DIR"] = str(workdir / "pki")  # the client trusts the cluster CA
        assert eventually(lambda: cli("login", "-u", "admin", "--password-stdin", input=ADMIN_PASSWORD + "\n",
                                      ok=False).returncode == 0, timeout=30)
        assert cli.json("hosts", "list") == []
        plain = Cli(f"http://127.0.0.1:{port}")("hosts", "list", ok=False)
        assert plain.returncode == 5 and "if it serves HTTPS, use an https:// address" in plain.stderr
        untrusted = Cli(f"https://127.0.0.1:{port}")
        untrusted.env["PAASOPS_PKI_DIR"] = str(workdir / "no-such-pki")
        done = untrusted("hosts", "list", ok=False)
        assert done.returncode == 5  # a TLS failure, said as such
        assert f"TLS with the paasops service at https://127.0.0.1:{port} failed" in done.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
