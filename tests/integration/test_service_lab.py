"""`paasops serve` on the bootstrapped lab: placement by score, deploy, scale, failure detection, events."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import docker
import pytest
from lab_support import ROOT, etcd_engine_keys, lab_exec, paasops

from paasops.client import ApiClient
from paasops.lab.hello_image import ensure_hello_image

APP = ROOT / "examples" / "app.yml"
ADMIN_PASSWORD = "lab-test-" + os.urandom(8).hex()  # the first admin's, given to `serve` on first start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, step: float = 0.05):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        value = predicate()
        if value:
            return time.monotonic() - start
        time.sleep(step)
    return None


@pytest.fixture(scope="module")
def service(lab, bootstrapped, cli_env, tmp_path_factory):
    """A real `paasops serve` on a free port, engines from the lab's etcd, state in a fresh SQLite file."""
    ensure_hello_image(docker.from_env())  # deploy copies it from this machine to the lab engines
    state = tmp_path_factory.mktemp("service") / "state.db"
    port = _free_port()
    log = open(state.with_suffix(".log"), "wb")
    proc = subprocess.Popen([sys.executable, "-m", "paasops", "serve", "--port", str(port), "--etcd",
                             lab.etcd_endpoint(), "--state", f"sqlite:///{state}"],
                            stdout=log, stderr=log, cwd=ROOT,
                            env={**os.environ, **cli_env, "PAASOPS_ADMIN_PASSWORD": ADMIN_PASSWORD,
                                  "PAASOPS_IMAGE_COPY_FROM_LOCAL": "1"})  # the lab's image is on this machine only
    config = state.parent / "config"  # where `paasops login` keeps the token for the CLI calls below
    env = {**cli_env, "PAASOPS_SERVER": f"http://127.0.0.1:{port}", "XDG_CONFIG_HOME": str(config)}
    assert _wait(lambda: _login(env), 60, step=0.2) is not None, state.with_suffix(".log").read_text()[-3000:]
    api = ApiClient(f"http://127.0.0.1:{port}", token=(config / "paasops" / "token").read_text().strip())

    def all_up():
        try:
            return sorted(e.id for e in api.engines() if e.status == "up") == ["lab1", "lab2", "lab3"]
        except Exception:
            return False
    assert _wait(all_up, 20) is not None, state.with_suffix(".log").read_text()[-3000:]
    yield api, env, lab
    proc.terminate()
    proc.wait(10)
    for host in lab.hosts():  # leave the lab engines empty for the next test module
        lab_exec(lab, host.name, "docker rm -f $(docker ps -aq --filter label=paasops.app) 2>/dev/null")


def _login(env: dict) -> bool:
    done = subprocess.run([sys.executable, "-m", "paasops", "login", "-u", "admin", "--password-stdin"],
                          input=ADMIN_PASSWORD + "\n", capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env}, timeout=120)
    return done.returncode == 0


def expected_plan(capacities: dict[str, tuple[float, int]], cpus: float, memory_mb: int, count: int):
    """The thesis score computed here, independently of paasops.placement: highest wins, ties by id."""
    reserved = {h: [0.0, 0] for h in capacities}
    plan = []
    for _ in range(count):
        def score(host):
            total_cpu, total_mem = capacities[host]
            return (1 - (reserved[host][0] + cpus) / total_cpu) * 65 + \
                   (1 - (reserved[host][1] + memory_mb) / total_mem) * 35
        fits = [h for h in sorted(capacities) if reserved[h][0] + cpus <= capacities[h][0]
                and reserved[h][1] + memory_mb <= capacities[h][1]]
        best = max(fits, key=lambda h: (score(h), -sorted(capacities).index(h)))
        reserved[best][0] += cpus
        reserved[best][1] += memory_mb
        plan.append(best)
    return plan


def _http_ok(address: str, port: int) -> bool:
    with urllib.request.urlopen(f"http://{address}:{port}/", timeout=5) as reply:
        return b"hello from paasops" in reply.read()


def test_deploy_places_by_score_and_every_replica_answers(service):
    api, env, lab = service
    capacities = {h.name: (h.cpus, h.memory_mb) for h in lab.hosts()}
    expected = expected_plan(capacities, 0.5, 128, 8)

    dry = paasops("deploy", str(APP), "--count", "8", "--dry-run", "-o", "json", env=env)
    assert dry.returncode == 0, dry.stderr
    assert [p["host"] for p in json.loads(dry.stdout)["plan"]] == expected
    assert api.containers(app="hello") == []  # the dry run started nothing

    done = paasops("deploy", str(APP), "--count", "8", "-o", "json", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    replicas = sorted(result["replicas"], key=lambda r: r["index"])
    assert [r["host"] for r in replicas] == expected and all(r["status"] == "running" for r in replicas)
    address = {h.name: h.address for h in lab.hosts()}
    for r in replicas:
        assert _http_ok(address[r["host"]], r["ports"][0]["host_port"])
    listed = api.containers(app="hello")
    assert len(listed) == 8 and {c.spec_hash for c in listed} == {result["spec_hash"]}
    assert all({"paasops.app", "paasops.deployment", "paasops.spec-hash"} <= set(c.labels) for c in listed)


def _per_host(api) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in api.containers(app="hello", all=False):
        counts[c.engine] = counts.get(c.engine, 0) + 1
    return counts


def _load(api, host: str) -> float:
    e = api.engine(host)
    return (e.reserved_cpus / e.cpus) * 65 + (e.reserved_memory_mb / e.memory_mb) * 35


def test_scale_down_takes_from_the_most_loaded_hosts_then_up_again(service):
    api, env, lab = service
    before = _per_host(api)
    most_loaded = max(before, key=lambda h: (_load(api, h), h))
    done = paasops("scale", "hello", "3", "-o", "json", env=env)
    assert done.returncode == 0, done.stderr
    removed = json.loads(done.stdout)["removed"]
    assert len(removed) == 5 and removed[0]["host"] == most_loaded
    assert sum(_per_host(api).values()) == 3
    done = paasops("scale", "hello", "6", "-o", "json", env=env)
    assert done.returncode == 0, done.stderr
    running = api.containers(app="hello", all=False)
    assert len(running) == 6 and len({c.spec_hash for c in running}) == 1


def _status(api, host: str) -> str:
    return api.engine(host).status


def test_cut_host_goes_down_takes_no_placement_and_comes_back(service):
    api, env, lab = service
    gateway = lab_exec(lab, "lab2", "ip -4 route show default").stdout.split()[2]
    lab_exec(lab, "lab2", "ip link set eth0 down")  # the host's only link goes dark
    try:
        took = _wait(lambda: _status(api, "lab2") == "down", 10)
        assert took is not None and took < 5.0, f"lab2 down after {took}"
        dry = paasops("deploy", str(APP), "--count", "10", "--dry-run", "-o", "json", env=env)
        assert dry.returncode == 0, dry.stderr
        assert "lab2" not in {p["host"] for p in json.loads(dry.stdout)["plan"]}
        assert "lab2" not in etcd_engine_keys(lab.etcd_endpoint(), lab.pki_dir)  # its key was removed
    finally:
        lab_exec(lab, "lab2", f"ip link set eth0 up && ip route replace default via {gateway}")
    took = _wait(lambda: _status(api, "lab2") == "up", 10)
    assert took is not None and took < 5.0, f"lab2 up after {took}"
    types = [e.type for e in api.events(host="lab2", limit=20)]
    assert "host-down" in types and "host-up" in types and types.index("host-up") < types.index("host-down")


def test_dead_dockerd_is_degraded_not_healthy(service):
    api, env, lab = service
    lab_exec(lab, "lab1", "systemctl stop docker.socket docker")
    try:
        assert _wait(lambda: _status(api, "lab1") == "degraded", 10) is not None
    finally:
        lab_exec(lab, "lab1", "systemctl start docker")
    assert _wait(lambda: _status(api, "lab1") == "up", 20) is not None


def test_registration_in_etcd_adds_and_removes_engines(service):
    api, env, lab = service
    lab_exec(lab, "lab3", "systemctl stop paasops-register")  # revokes its lease: the key goes
    try:
        assert _wait(lambda: "lab3" not in [e.id for e in api.engines()], 5) is not None
    finally:
        lab_exec(lab, "lab3", "systemctl start paasops-register")
    took = _wait(lambda: any(e.id == "lab3" and e.status == "up" for e in api.engines()), 10)
    assert took is not None
    # placeable again: a plan for many replicas uses it
    dry = paasops("deploy", str(APP), "--count", "12", "--dry-run", "-o", "json", env=env)
    assert "lab3" in {p["host"] for p in json.loads(dry.stdout)["plan"]}


def test_no_flapping_in_30_seconds_with_5_percent_icmp_loss(service):
    """Random loss on one host's link (dropped on this machine's side) must not take it down.

    30 s (about 30 heartbeats) keep the suite short; `bench/heal_soak.py` holds the loss for the full 3 minutes."""
    api, env, lab = service
    address = next(h.address for h in lab.hosts() if h.name == "lab3")
    rule = ["INPUT", "-s", address, "-p", "icmp", "-m", "statistic", "--mode", "random",
            "--probability", "0.05", "-j", "DROP"]
    since = time.time()
    subprocess.run(["iptables", "-I", *rule], check=True)
    try:
        statuses = set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            statuses.add(_status(api, "lab3"))
            time.sleep(0.5)
    finally:
        subprocess.run(["iptables", "-D", *rule], check=True)
    assert statuses == {"up"}
    flaps = [e for e in api.events(host="lab3", since=since, limit=100) if e.type.startswith("host-")]
    assert flaps == []


def test_events_hold_docker_and_operation_events_newest_first(service):
    api, env, lab = service
    events = api.events(limit=500)
    times = [e.time for e in events]
    assert times == sorted(times, reverse=True)
    types = {e.type for e in events}
    assert {"start", "die", "run-container", "scale-container", "destroy-container", "add-engine"} <= types
    assert all(e.tag == "docker" for e in events if e.type in ("start", "die"))


def test_bad_deploys_are_refused_and_start_nothing(service, tmp_path):
    api, env, lab = service
    holder = tmp_path / "holder.yml"  # holds host port 18080 on every host
    holder.write_text("name: holder\nimage: paasops/hello:latest\nports: ['18080:8080']\ncpus: 0.1\n"
                      "memory: 32m\ncount: 3\n")
    done = paasops("deploy", str(holder), "-o", "json", env=env)
    assert done.returncode == 0, done.stderr
    assert sorted(r["host"] for r in json.loads(done.stdout)["replicas"]) == ["lab1", "lab2", "lab3"]
    before = len(api.containers())
    cases = {
        "memory larger than any host": ("memory: 64g\n", "memory"),
        "a port taken on every host": ("ports: ['18080:8080']\n", "18080"),
        "negative count": ("count: -1\n", "count"),
        "unknown field": ("imagee: x\n", "imagee"),
    }
    base = APP.read_text().replace("memory: 128m\n", "").replace("count: 8\n", "").replace(
        'ports:\n  - "0:8080"          # host port 0: the engine picks a free one per replica\n', "")
    for name, (extra, word) in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.yml"
        path.write_text(base + extra)
        done = paasops("deploy", str(path), env=env)
        assert done.returncode == 2, (name, done.returncode, done.stderr)
        assert word in done.stderr, (name, done.stderr)
    assert len(api.containers()) == before
