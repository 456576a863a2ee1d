"""A drain cut by a crash of `serve` (SIGKILL after the host was marked, before any replica moved) is resumed
when the service starts again: the host ends empty, ready count never below desired, the mark cleared."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from lab_support import free_port, lab_exec, stop_serve
from test_drain import Sampler, ready_count, replicas
from test_service_lab import _wait

from paasops.engines.client import make_client
from paasops.service.deploy import TEST_PAUSE_ENV
from paasops.store.sqlite import SqliteStore

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
APP = f"resumed-{uuid.uuid4().hex[:6]}"
PASSWORD = "resume-admin-" + uuid.uuid4().hex
SPEC = {"name": APP, "image": "paasops/hello:latest", "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
        "ports": ["0:8080"], "cpus": 0.1, "memory": "32m",
        "strategy": "binpack",  # all 3 on one host: the drain moves them all
        "health": {"http": "/index.html", "interval": "1s", "timeout": "1s", "retries": 2}}


def serve(lab, cli_env: dict, state: Path, port: int, pause_at: str | None = None) -> subprocess.Popen:
    env = {**{k: v for k, v in os.environ.items() if k != TEST_PAUSE_ENV}, **cli_env,
           "PAASOPS_ADMIN_PASSWORD": PASSWORD, "PAASOPS_IMAGE_COPY_FROM_LOCAL": "1"}
    if pause_at:
        env[TEST_PAUSE_ENV] = pause_at
    with open(state.with_suffix(".log"), "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "paasops", "serve", "--port", str(port), "--etcd",
                                 lab.etcd_endpoint(), "--state", f"sqlite:///{state}"],
                                stdout=log, stderr=log, cwd=ROOT, env=env)


def ready(proc: subprocess.Popen, url: str, state: Path, timeout: float = 60) -> dict[str, str]:
    """The admin's auth header once the service answers and the 3 lab engines are up."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, state.with_suffix(".log").read_text()[-3000:]
        try:
            answer = httpx.post(f"{url}/api/login", json={"username": "admin", "password": PASSWORD}, timeout=10)
            auth = {"X-Access-Token": answer.json()["token"]}
            engines = httpx.get(f"{url}/api/engines", headers=auth, timeout=5).json()
            if sorted(e["id"] for e in engines if e["status"] == "up") == ["lab1", "lab2", "lab3"]:
                return auth
        except (httpx.TransportError, KeyError, ValueError):
            pass
        assert time.monotonic() < deadline, state.with_suffix(".log").read_text()[-3000:]
        time.sleep(0.2)


def test_a_drain_cut_by_sigkill_is_resumed_when_the_service_starts(lab, bootstrapped, cli_env, pki_dir,
                                                                    tmp_path):
    engines = {h.name: make_client(h.address, 2376, pki_dir=pki_dir, timeout=10) for h in lab.hosts()}
    state = tmp_path / "state.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = serve(lab, cli_env, state, port, pause_at="drain-moving")
    second = None
    try:
        auth = ready(first, url, state)
        done = httpx.post(f"{url}/api/containers", headers=auth, json={"spec": SPEC, "count": 3}, timeout=120)
        assert done.status_code == 200 and done.json()["ok"], done.text
        assert _wait(lambda: ready_count(engines, APP) == 3, 60) is not None
        before = {name: len(listed) for name, listed in replicas(engines, APP).items()}
        host = max(before, key=lambda h: (before[h], h))
        assert before[host] == 3, before

        def drain() -> None:
            try:  # blocks at the test hook until serve is killed under it
                httpx.post(f"{url}/api/engines/{host}/drain", headers=auth, timeout=60)
            except httpx.TransportError:
                pass
        threading.Thread(target=drain, daemon=True).start()

        def marked() -> bool:
            return [e["unschedulable"] for e in httpx.get(f"{url}/api/engines", headers=auth, timeout=5).json()
                    if e["id"] == host] == [True]
        assert _wait(marked, 20, step=0.1) is not None
        time.sleep(1)  # paused at the hook: nothing moves
        assert {name: len(listed) for name, listed in replicas(engines, APP).items()} == before
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

        sampler = Sampler(engines, APP)
        sampler.start()
        second = serve(lab, cli_env, state, port)
        auth = ready(second, url, state)
        took = _wait(lambda: not replicas(engines, APP)[host] and ready_count(engines, APP) == 3, 60, step=0.2)
        sampler.stopping.set()
        sampler.join()
        assert took is not None, (replicas(engines, APP), state.with_suffix(".log").read_text()[-3000:])
        assert min(sampler.samples) >= 3, sampler.samples  # start-first: ready capacity never dropped
        events = httpx.get(f"{url}/api/events", headers=auth, params={"type": "drain-host", "host": host},
                           timeout=10).json()
        messages = [e["message"] for e in events]
        assert any("resuming" in m for m in messages) and any(f"{host} is empty" in m for m in messages), messages
        stop_serve(second)
        with SqliteStore(str(state)) as store:
            record = store.get_engine(host)
            assert record is not None and record.unschedulable and not record.draining, record
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        for h in lab.hosts():
            lab_exec(lab, h.name, f"docker rm -f $(docker ps -aq --filter label=paasops.app={APP}) 2>/dev/null")
        for client in engines.values():
            client.close()
