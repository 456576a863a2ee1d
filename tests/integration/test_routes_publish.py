"""Routes in a real etcd from a real `serve --local-engine`: backends are the ready replicas at their published
ports, a replica leaving is drained before its container goes, conflicts are refused, each account sees its own."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import docker
import httpx
import pytest
from lab_support import api_call, api_login, etcd_call, free_port, hello_engine, local_engine_up, local_service

from paasops.lab.etcd import ensure_etcd, stop_etcd

RUN = uuid.uuid4().hex[:6]
WEB, TCP, CLASH, ALICE_APP = f"rt-web-{RUN}", f"rt-tcp-{RUN}", f"rt-clash-{RUN}", f"rt-alice-{RUN}"
CHECKED = f"rt-checked-{RUN}"
ADMIN_PW = "rt-admin-" + uuid.uuid4().hex
USER_PW = "rt-user-" + uuid.uuid4().hex
HOST = f"web-{RUN}.example.test"
TCP_PORT = 20000 + int(RUN, 16) % 20000
ROOT = Path(__file__).resolve().parents[2]
DRAIN, GRACE = 3.0, 0.3  # seconds a stop waits at most for the edges' acks, then for requests in flight


def spec(name: str, expose: dict, **more) -> dict:
    return {"name": name, "image": "paasops/hello:latest", "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
            "memory": "16m", "cpus": 0.05, "expose": expose, **more}


@pytest.fixture(scope="module")
def engine():
    with hello_engine(WEB, TCP, CLASH, ALICE_APP, CHECKED) as client:
        yield client


@pytest.fixture(scope="module")
def lab(engine, tmp_path_factory):
    """A real etcd (TLS, client certs of the service's pki dir) and the service publishing to it."""
    workdir = tmp_path_factory.mktemp("routes")
    ports = {"client_port": free_port(), "peer_port": free_port()}
    etcd_url = ensure_etcd(workdir / "etcd", listen_ip="127.0.0.1", pki_dir=workdir / "pki", **ports)
    try:
        with local_service(workdir, ADMIN_PW, local_engine_up(ADMIN_PW),
                           settings={"PAASOPS_ETCD": json.dumps([etcd_url]), "PAASOPS_ROUTE_DRAIN_TIMEOUT": str(DRAIN),
                                     "PAASOPS_ROUTE_DRAIN_GRACE": str(GRACE)}) as url:
            yield {"url": url, "etcd": etcd_url, "pki": workdir / "pki", "admin": api_login(url, "admin", ADMIN_PW),
                   "restart_etcd": lambda: ensure_etcd(workdir / "etcd", listen_ip="127.0.0.1",
                                                       pki_dir=workdir / "pki", **ports),
                   "stop_etcd": lambda: stop_etcd(workdir / "etcd")}
    finally:
        stop_etcd(workdir / "etcd")


def read_route(lab, app: str, revision: int | None = None) -> tuple[dict | None, int]:
    """`/paasops/routes/<app>` (None: absent) at `revision` (default: now), and etcd's revision."""
    body: dict = {"key": base64.b64encode(f"/paasops/routes/{app}".encode()).decode()}
    if revision is not None:
        body["revision"] = revision
    answer = etcd_call(lab["etcd"], lab["pki"], "/kv/range", body)
    kvs = answer.get("kvs") or []
    value = json.loads(base64.b64decode(kvs[0]["value"])) if kvs else None
    return value, int(answer["header"]["revision"])


def wait_route(lab, app: str, ok, timeout: float = 10.0) -> dict | None:
    deadline = time.monotonic() + timeout
    while True:
        value, _ = read_route(lab, app)
        if ok(value):
            return value
        assert time.monotonic() < deadline, f"route of {app} is {value}"
        time.sleep(0.1)


def settled(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the watcher never saw it"
        time.sleep(0.02)


def published(client: docker.DockerClient, app: str) -> dict[str, tuple[str, int]]:
    """The app's running containers, as docker lists them: short id -> (name, IPv4 host port of 8080/tcp)."""
    out = {}
    for c in client.containers.list(filters={"label": [f"paasops.app={app}"]}):
        [port] = [p["HostPort"] for p in c.attrs["NetworkSettings"]["Ports"]["8080/tcp"] if ":" not in p["HostIp"]]
        out[c.id[:12]] = (c.name, int(port))
    return out


def deploy(lab, body: dict, count: int, token: str | None = None, **extra) -> httpx.Response:
    return api_call(lab["url"], token or lab["admin"], "POST", "/api/containers",
                    json={"spec": body, "count": count, **extra}, timeout=120)


def test_an_exposed_app_is_routed_to_its_ready_replicas(lab, engine):
    answer = deploy(lab, spec(WEB, {"port": 8080, "hostnames": [HOST.upper()]}), 3)
    assert answer.status_code == 200, answer.text
    value = wait_route(lab, WEB, lambda v: v is not None and len(v["backends"]) == 3)
    running = published(engine, WEB)
    assert len(running) == 3  # 8080 was not in `ports`: published on an ephemeral host port all the same
    assert {b["id"]: (b["name"], b["port"]) for b in value["backends"]} == running
    assert {(b["address"], b["state"]) for b in value["backends"]} == {("127.0.0.1", "ready")}
    assert {k: value[k] for k in ("app", "mode", "hostnames", "path", "https_redirect", "tcp_port")} == {
        "app": WEB, "mode": "http", "hostnames": [HOST], "path": "/", "https_redirect": False, "tcp_port": None}
    for _, port in running.values():  # each backend answers where the route says
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
    app = api_call(lab["url"], lab["admin"], "GET", f"/api/apps/{WEB}").json()
    assert app["urls"] == [f"http://{HOST}/"]


def test_a_replica_leaving_is_drained_before_its_container_goes(lab, engine):
    before = published(engine, WEB)
    _, start = read_route(lab, WEB)
    seen: list[tuple[str, bool]] = []  # (a drained backend's id, whether its container still existed then)
    done = threading.Event()

    def watch():
        while not done.is_set():
            value, _ = read_route(lab, WEB)
            for b in (value or {}).get("backends", []):
                if b["state"] == "drain":
                    try:
                        exists = engine.containers.get(b["id"]).status == "running"
                    except docker.errors.NotFound:
                        exists = False
                    seen.append((b["id"], exists))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        answer = api_call(lab["url"], lab["admin"], "POST", f"/api/apps/{WEB}/scale", json={"count": 1}, timeout=120)
        assert answer.status_code == 200, answer.text
        value = wait_route(lab, WEB, lambda v: v is not None and len(v["backends"]) == 1)
    finally:
        done.set()
        watcher.join(5)
    left = published(engine, WEB)
    removed = set(before) - set(left)
    assert len(removed) == 2 and [b["id"] for b in value["backends"]] == list(left)
    # Every value the key took meanwhile (etcd keeps each revision): ready, then drain, then gone; never back.
    _, end = read_route(lab, WEB)
    history = [read_route(lab, WEB, r)[0] for r in range(start, end + 1)]
    for cid in removed:
        states = [next((b["state"] for b in v["backends"] if b["id"] == cid), "gone") for v in history if v]
        collapsed = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
        assert collapsed == ["ready", "drain", "gone"], (cid, states)
        assert (cid, True) in seen, f"{cid} was never seen drained while its container ran: {seen}"


def put_edge(lab, value: dict) -> None:
    """`/paasops/edges/local` as an edge agent on the local engine writes it (the contract's ack)."""
    etcd_call(lab["etcd"], lab["pki"], "/kv/put", {"key": base64.b64encode(b"/paasops/edges/local").decode(),
                                                   "value": base64.b64encode(json.dumps(value).encode()).decode()})


def docker_time(text: str) -> float:
    """A docker RFC 3339 time (nanoseconds, Z or an offset) in epoch seconds."""
    text = re.sub(r"(\.\d{6})\d*", r"\1", text.replace("Z", "+00:00"))
    return datetime.fromisoformat(text).astimezone(UTC).timestamp()


def started_at(engine: docker.DockerClient, cid: str) -> float:
    """When docker started the container."""
    return docker_time(engine.containers.get(cid).attrs["State"]["StartedAt"])


def test_a_new_replica_is_routed_within_a_second_of_starting(lab, engine):
    first_seen: dict[str, float] = {}
    done = threading.Event()

    def watch():
        while not done.is_set():
            value, _ = read_route(lab, WEB)
            for b in (value or {}).get("backends", []):
                first_seen.setdefault(b["id"], time.time())
            time.sleep(0.02)

    before = set(published(engine, WEB))
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        answer = api_call(lab["url"], lab["admin"], "POST", f"/api/apps/{WEB}/scale", json={"count": 3}, timeout=120)
        assert answer.status_code == 200, answer.text
        value = wait_route(lab, WEB, lambda v: v is not None and len(v["backends"]) == 3)
        settled(lambda: {b["id"] for b in value["backends"]} <= set(first_seen))  # the watcher saw it too
    finally:
        done.set()
        watcher.join(5)
    new = set(published(engine, WEB)) - before
    lags = {cid: first_seen[cid] - started_at(engine, cid) for cid in new}
    print("started -> routed:", ", ".join(f"{lag * 1000:.0f} ms" for lag in lags.values()))
    assert len(new) == 2 and all(lag < 1.0 for lag in lags.values()), lags


def test_a_replica_with_a_health_check_is_routed_only_once_healthy(lab, engine):
    seen: list[tuple[float, int]] = []  # (when, backends in the route)
    done = threading.Event()

    def watch():
        while not done.is_set():
            value, _ = read_route(lab, CHECKED)
            seen.append((time.time(), len((value or {}).get("backends", []))))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        body = spec(CHECKED, {"port": 8080, "hostnames": [f"checked-{RUN}.example.test"]},
                    health={"http": "/index.html", "interval": "1s", "timeout": "1s", "retries": 1})
        assert deploy(lab, body, 1).status_code == 200
        wait_route(lab, CHECKED, lambda v: v is not None and len(v["backends"]) == 1)
        settled(lambda: any(n == 1 for _, n in seen))  # the watcher saw it too
    finally:
        done.set()
        watcher.join(5)
    [cid] = published(engine, CHECKED)
    health = engine.containers.get(cid).attrs["State"]["Health"]
    assert health["Status"] == "healthy"
    healthy_at = docker_time(health["Log"][0]["End"])  # its first probe, which passed
    routed_at = min(t for t, n in seen if n == 1)
    print(f"healthy -> routed: {(routed_at - healthy_at) * 1000:.0f} ms")
    assert healthy_at <= routed_at < healthy_at + 1.0
    assert any(n == 0 and t > started_at(engine, cid) for t, n in seen)  # running but not yet healthy: not routed


def test_a_stop_waits_for_the_live_edges_to_apply_the_drain_but_no_longer_than_the_timeout(lab, engine):
    wait_route(lab, WEB, lambda v: v is not None and len(v["backends"]) == 3)

    def destroy_one() -> float:
        victim = sorted(published(engine, WEB))[0]
        started = time.monotonic()
        gone = api_call(lab["url"], lab["admin"], "DELETE", f"/api/containers/{victim}")
        assert gone.status_code == 200, gone.text
        return time.monotonic() - started

    # (the supervisor replaces each destroyed replica: the app wants 3)
    # An edge on the (up) local engine that never applies anything: the stop waits DRAIN, then GRACE, and goes on.
    put_edge(lab, {"engine": "local", "revision": 0, "servers": {}, "error": "stuck", "http_port": 80,
                   "https_port": 443, "applied_at": "2026-01-01T00:00:00+00:00"})
    lagging = destroy_one()
    # An edge that applies each revision as it comes (as the agent does): the stop waits only for its ack.
    done = threading.Event()

    def ack():
        while not done.is_set():
            value, revision = read_route(lab, WEB)
            servers = {f"{WEB}/{b['id']}": b["state"] for b in (value or {}).get("backends", [])}
            put_edge(lab, {"engine": "local", "revision": revision, "servers": servers, "error": None,
                           "http_port": 80, "https_port": 443, "applied_at": "2026-01-01T00:00:01+00:00"})
            time.sleep(0.02)

    acker = threading.Thread(target=ack, daemon=True)
    acker.start()
    try:
        acked = destroy_one()
        routes: list[dict] = []

        def caught_up() -> bool:  # the edge serves what the route says (the supervisor replaces the replica)
            routes[:] = [r for r in api_call(lab["url"], lab["admin"], "GET", "/api/routes").json()
                         if r["app"] == WEB]
            edges = routes[0]["edges"]
            return len(edges) == 1 and edges[0]["serving"] == {b["id"]: "ready" for b in routes[0]["backends"]}

        settled(caught_up)
        [route] = routes
    finally:
        done.set()
        acker.join(5)
        etcd_call(lab["etcd"], lab["pki"], "/kv/deleterange",
                  {"key": base64.b64encode(b"/paasops/edges/local").decode()})
    print(f"stop with a lagging edge {lagging:.2f}s, with an acking edge {acked:.2f}s")
    assert lagging >= DRAIN + GRACE and acked < DRAIN
    [edge] = route["edges"]
    assert (edge["engine"], edge["status"], edge["error"]) == ("local", "up", None)
    assert route["backends"] and edge["lag"] == 0 and edge["current"] and edge["revision"] >= route["revision"]


def test_a_route_another_app_has_is_refused_and_nothing_changes(lab, engine, tmp_path):
    for dry_run in (True, False):
        answer = deploy(lab, spec(CLASH, {"port": 8080, "hostnames": [HOST, "other.example.test"]}), 1,
                        dry_run=dry_run)
        assert answer.status_code == 400, answer.text
        assert f"{HOST}/ is already routed to app '{WEB}'" in answer.json()["error"]
    assert deploy(lab, spec(TCP, {"port": 8080, "tcp": TCP_PORT}), 1).status_code == 200
    app_yml = tmp_path / "clash.yml"
    app_yml.write_text(json.dumps(spec(CLASH, {"port": 8080, "tcp": TCP_PORT})))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")}
    env.update(PAASOPS_SERVER=lab["url"], PAASOPS_TOKEN=lab["admin"])
    done = subprocess.run([sys.executable, "-m", "paasops", "deploy", str(app_yml)], env=env, capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode != 0 and f"port {TCP_PORT} is already routed to app '{TCP}'" in done.stderr, done
    assert api_call(lab["url"], lab["admin"], "GET", f"/api/apps/{CLASH}").status_code == 404
    assert engine.containers.list(all=True, filters={"label": [f"paasops.app={CLASH}"]}) == []
    assert read_route(lab, CLASH)[0] is None
    assert wait_route(lab, TCP, lambda v: v is not None and len(v["backends"]) == 1)["tcp_port"] == TCP_PORT


def test_each_account_sees_the_routes_of_its_own_apps(lab):
    url, admin = lab["url"], lab["admin"]
    added = api_call(url, admin, "POST", "/api/accounts", json={"name": "alice", "password": USER_PW, "role": "user"})
    assert added.status_code == 201, added.text
    alice = api_login(url, "alice", USER_PW)
    assert deploy(lab, spec(ALICE_APP, {"port": 8080, "hostnames": [f"alice-{RUN}.example.test"]}), 1,
                  token=alice).status_code == 200
    wait_route(lab, ALICE_APP, lambda v: v is not None and len(v["backends"]) == 1)
    mine = api_call(url, alice, "GET", "/api/routes")
    assert mine.status_code == 200, mine.text
    assert [r["app"] for r in mine.json()] == [ALICE_APP]
    assert [b["state"] for b in mine.json()[0]["backends"]] == ["ready"]
    everyone = {r["app"] for r in api_call(url, admin, "GET", "/api/routes").json()}
    assert {WEB, TCP, ALICE_APP} <= everyone
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")}
    env.update(PAASOPS_SERVER=url, PAASOPS_TOKEN=alice)
    shown = subprocess.run([sys.executable, "-m", "paasops", "routes", "-o", "json"], env=env, capture_output=True,
                           text=True, timeout=60, cwd=ROOT)
    assert shown.returncode == 0, shown.stderr
    assert [r["app"] for r in json.loads(shown.stdout)] == [ALICE_APP]


def test_with_etcd_away_a_scale_down_goes_on_and_the_routes_catch_up_when_it_is_back(lab, engine):
    wait_route(lab, WEB, lambda v: v is not None and len(v["backends"]) == 3)
    lab["stop_etcd"]()
    try:
        started = time.monotonic()
        answer = api_call(lab["url"], lab["admin"], "POST", f"/api/apps/{WEB}/scale", json={"count": 1}, timeout=120)
        took = time.monotonic() - started
        assert answer.status_code == 200, answer.text
        assert len(published(engine, WEB)) == 1
    finally:
        lab["restart_etcd"]()
    print(f"scale 3 -> 1 with etcd away: {took:.2f}s")
    assert took < DRAIN  # no drain wait: no edge can ack while etcd is away (they keep their last routes)
    value = wait_route(lab, WEB, lambda v: v is not None and len(v["backends"]) == 1, timeout=15)
    assert [b["id"] for b in value["backends"]] == list(published(engine, WEB))
    events = api_call(lab["url"], lab["admin"], "GET", "/api/events", params={"type": "routes-error"}).json()
    assert events and "the edges keep their last routes" in events[0]["message"]


def test_a_deleted_app_loses_its_route(lab):
    answer = api_call(lab["url"], lab["admin"], "DELETE", f"/api/apps/{TCP}")
    assert answer.status_code == 200, answer.text
    wait_route(lab, TCP, lambda v: v is None, timeout=5)
