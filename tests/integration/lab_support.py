"""Helpers of the integration tests: run the real CLI, read etcd, look inside lab hosts."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import httpx

from paasops.lab.etcd import client_context

ROOT = Path(__file__).resolve().parents[2]


def paasops(*args: str, env: dict | None = None, check: bool = False, timeout: float = 900):
    """Run the real `paasops` command line; returns CompletedProcess with text output."""
    done = subprocess.run([sys.executable, "-m", "paasops", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})
    if check and done.returncode != 0:
        raise AssertionError(f"paasops {' '.join(args)} exited {done.returncode}\n"
                             f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}")
    return done


def etcd_call(endpoint: str, pki_dir: Path, method: str, body: dict,
              context: ssl.SSLContext | None = None) -> dict:
    """One call of etcd's v3 JSON gateway over TLS, as the service (its etcd client cert) unless `context`."""
    req = urllib.request.Request(endpoint + "/v3" + method, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=5, context=context or client_context(pki_dir)) as reply:
        return json.loads(reply.read())


def etcd_engine_keys(endpoint: str, pki_dir: Path) -> dict[str, dict]:
    """Every /paasops/engines/ key in etcd, read through the v3 JSON gateway."""
    prefix = b"/paasops/engines/"
    kvs = etcd_call(endpoint, pki_dir, "/kv/range", {
        "key": base64.b64encode(prefix).decode(),
        "range_end": base64.b64encode(prefix[:-1] + b"0").decode()}).get("kvs") or []
    return {base64.b64decode(kv["key"]).decode()[len(prefix):]: json.loads(base64.b64decode(kv["value"]))
            for kv in kvs}


def lab_exec(lab, host: str, command: str) -> subprocess.CompletedProcess:
    """Run a shell command inside a lab host (to look at it from outside paasops)."""
    return subprocess.run(["docker", "exec", f"{lab.name}-{host}", "sh", "-c", command],
                          capture_output=True, text=True, timeout=120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_serve(proc: subprocess.Popen) -> None:
    """Stop a `serve` as Ctrl-C does (SIGINT), killing it if it has not gone in 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def api_login(url: str, name: str, password: str) -> str:
    """A token of account `name` from the service at `url` (the login must succeed)."""
    answer = httpx.post(f"{url}/api/login", json={"username": name, "password": password}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def api_call(url: str, token: str, method: str, path: str, timeout: float = 60, **kw) -> httpx.Response:
    """One request to the service at `url` with `token`."""
    return httpx.request(method, f"{url}{path}", headers={"X-Access-Token": token}, timeout=timeout, **kw)


def local_engine_up(admin_password: str) -> Callable[[str], bool]:
    """A `ready` for `local_service`: the first admin logs in and the one engine (local) is up."""

    def ready(url: str) -> bool:
        answer = httpx.post(f"{url}/api/login", json={"username": "admin", "password": admin_password}, timeout=30)
        if answer.status_code != 200:  # not ready yet (a loaded store): ask again until the deadline
            print("not ready:", answer.status_code, answer.text)
            return False
        token = answer.json()["token"]
        engines = httpx.get(f"{url}/api/engines", headers={"X-Access-Token": token}, timeout=30).json()
        return [e["status"] for e in engines] == ["up"]

    return ready


@contextlib.contextmanager
def local_service(workdir: Path, admin_password: str, ready: Callable[[str], bool], timeout: float = 30,
                  state: str | None = None, settings: dict[str, str] | None = None):
    """A real `paasops serve --local-engine` on a free port (own SQLite state unless `state` names
    another, pki dir and log in workdir, first admin's password given, more PAASOPS_* `settings`); yields
    its URL once ready(url) is true, stops it after."""
    port = free_port()
    log = open(workdir / "serve.log", "a")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")}
    env["PAASOPS_ADMIN_PASSWORD"] = admin_password
    env.update(settings or {})
    proc = subprocess.Popen([sys.executable, "-m", "paasops", "serve", "--local-engine",
                             "--state", state or f"sqlite:///{workdir}/state.db", "--port", str(port),
                             "--pki-dir", str(workdir / "pki")],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, (workdir / "serve.log").read_text()
            try:
                if ready(url):
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (workdir / "serve.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        stop_serve(proc)
        log.close()


@contextlib.contextmanager
def hello_engine(*apps: str):
    """The local Docker engine with the hello image; removes the containers of `apps` after."""
    import docker

    from paasops.lab.hello_image import ensure_hello_image

    client = docker.from_env()
    ensure_hello_image(client)
    try:
        yield client
    finally:
        for app in apps:
            for c in client.containers.list(all=True, filters={"label": [f"paasops.app={app}"]}):
                c.remove(force=True)
        client.close()
