"""Bounded follows against a real `serve --local-engine` and a quiet container: caps (429), a free API, disconnects,
idle timeout, and SIGTERM within 5 s while follows are open."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import httpx
import pytest
from lab_support import api_call, api_login, free_port, hello_engine, stop_serve

from paasops.service.docker_events import bound_socket, timed_out

ROOT = Path(__file__).resolve().parents[2]
RUN = uuid.uuid4().hex[:6]
APP = f"quiet-{RUN}"
ADMIN_PW = "streams-admin-" + uuid.uuid4().hex
USER_PW = "streams-user-" + uuid.uuid4().hex
# more follows than Starlette's 40 threadpool slots may be open, so a follow holding a slot would show
PER_ACCOUNT = 45
FOLLOWS = 60


class Serve:
    """A real `paasops serve --local-engine` subprocess (own state), with PAASOPS_* settings given."""

    def __init__(self, workdir: Path, settings: dict[str, str]):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")}
        env.update({"PAASOPS_ADMIN_PASSWORD": ADMIN_PW, **settings})
        self.log = open(workdir / "serve.log", "a")
        self.proc = subprocess.Popen([sys.executable, "-m", "paasops", "serve", "--local-engine", "--state",
                                      f"sqlite:///{workdir}/state.db", "--port", str(self.port), "--pki-dir",
                                      str(workdir / "pki")], cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, (workdir / "serve.log").read_text()
            try:
                self.admin = login(self.url, "admin", ADMIN_PW)
                if [e["status"] for e in call(self.url, self.admin, "GET", "/api/engines").json()] == ["up"]:
                    break
            except (httpx.TransportError, AssertionError):
                pass
            assert time.monotonic() < deadline, (workdir / "serve.log").read_text()
            time.sleep(0.2)

    def stop(self) -> None:
        stop_serve(self.proc)
        self.log.close()


login = api_login


def call(url: str, token: str, method: str, path: str, **kw) -> httpx.Response:
    return api_call(url, token, method, path, timeout=60, **kw)


@pytest.fixture(scope="module")
def engine():
    with hello_engine(APP) as client:
        yield client


def start(tmp_path_factory, settings: dict[str, str]) -> tuple[Serve, str, str]:
    """A service, a quiet container of a user's app (`sleep`: a follow that never gets output), her token."""
    serve = Serve(tmp_path_factory.mktemp("streams"), settings)
    added = call(serve.url, serve.admin, "POST", "/api/accounts",
                 json={"name": "dave", "password": USER_PW, "role": "user"})
    assert added.status_code in (200, 201), added.text
    user = login(serve.url, "dave", USER_PW)
    spec = {"name": APP, "image": "paasops/hello:latest", "command": ["sleep", "600"], "memory": "16m",
            "cpus": 0.01}
    deployed = call(serve.url, user, "POST", "/api/containers", json={"spec": spec, "count": 1})
    assert deployed.status_code == 200, deployed.text
    [container] = [c["id"] for c in call(serve.url, user, "GET", f"/api/containers?app={APP}").json()]
    return serve, user, container


def open_follow(port: int, token: str, path: str) -> tuple[int, dict[str, str], socket.socket]:
    """A GET kept open on a raw socket: its status and headers once the service answered."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Access-Token: {token}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, f"the service closed {path} before answering"
        head += chunk
    lines = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, sock


def timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def latencies(url: str, token: str) -> tuple[list[float], list[float]]:
    def healthz():
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200

    def engines():  # an authenticated sync route (threadpool)
        assert call(url, token, "GET", "/api/engines").status_code == 200

    return [timed(healthz) for _ in range(10)], [timed(engines) for _ in range(10)]


def test_sixty_follows_from_one_account_leave_the_api_free_and_sigterm_stops_serve_in_5s(engine, tmp_path_factory):
    serve, user, container = start(tmp_path_factory, {"PAASOPS_FOLLOW_PER_ACCOUNT": str(PER_ACCOUNT)})
    path = f"/api/containers/{container}/logs?follow=true&tail=0"
    try:
        quiet_health, quiet_sync = latencies(serve.url, user)
        with ThreadPoolExecutor(FOLLOWS) as pool:
            opened = list(pool.map(lambda _: open_follow(serve.port, user, path), range(FOLLOWS)))
        statuses = sorted(status for status, _, _ in opened)
        assert statuses == [200] * PER_ACCOUNT + [429] * (FOLLOWS - PER_ACCOUNT), statuses
        refused = next(headers for status, headers, _ in opened if status == 429)
        assert int(refused["retry-after"]) >= 1

        health, sync = latencies(serve.url, user)
        print(f"\n/healthz with {PER_ACCOUNT} follows open (+{FOLLOWS - PER_ACCOUNT} refused): median "
              f"{statistics.median(health) * 1000:.1f} ms, max {max(health) * 1000:.1f} ms "
              f"(none open: median {statistics.median(quiet_health) * 1000:.1f} ms); GET /api/engines: median "
              f"{statistics.median(sync) * 1000:.1f} ms, max {max(sync) * 1000:.1f} ms "
              f"(none open: {statistics.median(quiet_sync) * 1000:.1f} ms)")
        assert statistics.median(health) < 0.1 and max(health) < 1.0
        assert statistics.median(sync) < 0.1 * 3 and max(sync) < 1.0  # a token check on SQLite: noisier

        # the command line says why, with its exit code (4, like every 429)
        env = {**os.environ, "PAASOPS_SERVER": serve.url, "PAASOPS_TOKEN": user}
        cli = subprocess.run([sys.executable, "-m", "paasops", "logs", "--follow", container], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
        assert cli.returncode == 4, cli.stderr
        assert f"at most {PER_ACCOUNT} per account" in cli.stderr and "try again in" in cli.stderr
        assert "Traceback" not in cli.stderr

        # a client that goes away frees its place promptly, though the container says nothing
        for _, _, sock in [o for o in opened if o[0] == 200][:5]:
            sock.close()
        deadline, again = time.monotonic() + 5, 0
        while again != 200:
            assert time.monotonic() < deadline, "closed follows did not give their places back"
            again, _, sock = open_follow(serve.port, user, path)
            opened.append((again, {}, sock))
            time.sleep(0.1)

        # an admin follows through the command line; SIGTERM ends it cleanly and stops serve in < 5 s
        env["PAASOPS_TOKEN"] = serve.admin
        admin_follow = subprocess.Popen([sys.executable, "-m", "paasops", "logs", "--follow", container], cwd=ROOT,
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)  # the command starts and opens its follow (the quiet container prints nothing to wait on)
        assert admin_follow.poll() is None, admin_follow.communicate()
        began = time.monotonic()
        serve.proc.send_signal(signal.SIGTERM)
        serve.proc.wait(timeout=30)
        took = time.monotonic() - began
        print(f"SIGTERM to exit with {PER_ACCOUNT + 1} follows open: {took:.2f} s")
        assert took < 5.0, (serve.workdir / "serve.log").read_text()[-3000:]
        out, err = admin_follow.communicate(timeout=10)
        assert admin_follow.returncode == 0, err  # the service ended the stream: a clean end, no error
        for _, _, sock in opened:
            sock.close()
    finally:
        serve.stop()


@pytest.fixture(scope="module")
def small(engine, tmp_path_factory):
    """A service with one follow per account, a 2 s idle timeout, at most 50 replicas per app, and engine event
    streams reopened after 1 s of quiet."""
    serve, user, container = start(tmp_path_factory, {"PAASOPS_FOLLOW_PER_ACCOUNT": "1",
                                                      "PAASOPS_FOLLOW_IDLE_TIMEOUT": "2",
                                                      "PAASOPS_MAX_COUNT": "50",
                                                      "PAASOPS_ENGINE_EVENTS_TIMEOUT": "1",
                                                      "PAASOPS_SUPERVISE": "0"})  # the stopped one stays
    yield serve, user, container
    serve.stop()


def test_a_quiet_follow_ends_after_the_idle_timeout_and_frees_its_place(small):
    serve, user, container = small
    for path in (f"/api/containers/{container}/logs?follow=true&tail=0", "/api/events/stream?type=nothing"):
        status, _, sock = open_follow(serve.port, user, path)
        assert status == 200
        assert open_follow(serve.port, user, path)[0] == 429  # the one place is taken
        began = time.monotonic()
        sock.settimeout(10)
        rest = b""
        while not rest.endswith(b"0\r\n\r\n"):  # the chunked stream's clean end
            chunk = sock.recv(4096)
            assert chunk, f"{path}: closed without a clean end"
            rest += chunk
        took = time.monotonic() - began
        print(f"\n{path}: ended after {took:.1f} s of quiet (idle timeout 2 s)")
        assert 1.5 < took < 6
        sock.close()
        assert open_follow(serve.port, user, path)[0] == 200  # the place is free again


def test_a_count_over_the_cap_is_refused_at_once_and_changes_nothing(small, tmp_path):
    serve, user, _ = small
    spec = {"name": APP, "image": "paasops/hello:latest", "command": ["sleep", "600"], "memory": "16m",
            "cpus": 0.01}
    for body in ({"spec": spec, "count": 3 * 10**6, "dry_run": True}, {"spec": {**spec, "count": 51}},
                 {"spec": spec, "count": 10**30}):
        began = time.monotonic()
        answer = call(serve.url, user, "POST", "/api/containers", json=body)
        took = time.monotonic() - began
        assert answer.status_code == 400 and "limit of 50 per app" in answer.json()["error"], answer.text
        assert answer.json()["error"].startswith("count: ") and took < 2, took
    scaled = call(serve.url, user, "POST", f"/api/apps/{APP}/scale", json={"count": 51})
    assert scaled.status_code == 400 and "limit of 50" in scaled.text
    assert len(call(serve.url, user, "GET", f"/api/containers?app={APP}").json()) == 1  # nothing changed
    app_yml = tmp_path / "app.yml"
    app_yml.write_text(f"name: {APP}\nimage: paasops/hello:latest\ncommand: [sleep, '600']\nmemory: 16m\n"
                       "cpus: 0.01\n")
    env = {**os.environ, "PAASOPS_SERVER": serve.url, "PAASOPS_TOKEN": user}
    cli = subprocess.run([sys.executable, "-m", "paasops", "deploy", str(app_yml), "--count", "1000000"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 2 and "limit of 50 per app" in cli.stderr and "Traceback" not in cli.stderr, cli


def test_engine_events_come_once_through_quiet_reopens(small, engine):
    """The engine's event stream is reopened after each second of quiet, from its last event: a container
    stopped outside paasops is seen, and its events are stored once, however many reopens follow (run last:
    it stops the quiet container)."""
    serve, user, container = small
    time.sleep(3.5)  # quiet: the stream was reopened a few times
    engine.containers.get(container).stop(timeout=1)
    deadline = time.monotonic() + 10
    while call(serve.url, user, "GET", f"/api/containers/{container}").json()["state"] != "exited":
        assert time.monotonic() < deadline, "the service never saw the container stop"
        time.sleep(0.2)
    time.sleep(3.5)  # more reopens, each from the cursor, where the engine repeats its last event
    seen = [(e["type"], e["time"]) for e in call(serve.url, serve.admin, "GET", "/api/events?tag=docker").json()
            if e["container"] == container]
    assert "die" in {kind for kind, _ in seen}
    assert len(seen) == len(set(seen)), sorted(seen)  # the engine's last event (stop) again at each reopen


@pytest.fixture
def silent_engine():
    """A TCP endpoint that answers /events like Docker (200, chunked) and then says nothing, ever: a quiet engine
    or a half-open connection as the client sees it."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            held.append(conn)

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in held:
        conn.close()


def test_a_silent_engine_event_stream_times_out_instead_of_hanging(silent_engine):
    def first_event(read_timeout: float | None) -> tuple[str, float]:
        api = docker.APIClient(base_url=f"tcp://127.0.0.1:{silent_engine}", version="1.41", timeout=None)
        stream = api.events(decode=True)
        if read_timeout is not None:
            bound_socket(stream, read_timeout)
        outcome: list[str] = []

        def read() -> None:
            try:
                next(stream)
                outcome.append("event")
            except StopIteration:
                outcome.append("ended")
            except Exception as exc:  # what the collector sees
                outcome.append("timed out" if timed_out(exc) else f"broke: {type(exc).__name__}")

        began = time.monotonic()
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(5)
        took = time.monotonic() - began
        stream.close()  # frees the unbounded read too
        return (outcome[0] if outcome else "still waiting"), took

    assert first_event(None)[0] == "still waiting"  # Docker's client alone: no read timeout on /events
    outcome, took = first_event(1.0)
    print(f"\nsilent engine, read timeout 1 s: {outcome} after {took:.2f} s")
    assert outcome in ("timed out", "ended") and took < 3  # either way the collector reopens the stream
