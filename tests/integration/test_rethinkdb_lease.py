"""One `serve` per RethinkDB state: a second one is refused naming the first, a lapsed lease is taken over,
and a serve that stops gives its lease up."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from lab_support import ROOT, free_port, local_service

from paasops.store import open_store
from paasops.store.exclusive import LEASE_NAME

pytestmark = [pytest.mark.integration, pytest.mark.rethinkdb]
PASSWORD = "lease-test-" + uuid.uuid4().hex


def healthy(url: str) -> bool:
    return httpx.get(f"{url}/healthz", timeout=2).status_code == 200


def lease(state: str) -> dict | None:
    store = open_store(state)
    try:
        return store._run(store._t("leases").get(LEASE_NAME))  # type: ignore[attr-defined]
    finally:
        store.close()


def other_serve(workdir, state: str, timeout: float = 30) -> tuple[int | None, str]:
    """Start another serve on `state`; its exit code (None: it is still running, then stopped) and output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")}
    env["PAASOPS_ADMIN_PASSWORD"] = PASSWORD
    log = workdir / f"other-{uuid.uuid4().hex[:6]}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "paasops", "serve", "--state", state, "--port",
                                 str(free_port()), "--pki-dir", str(workdir / "pki")], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        code = None
        proc.terminate()
        proc.wait(timeout=15)
    return code, log.read_text()


def test_a_second_serve_on_the_same_rethinkdb_is_refused_naming_the_first(tmp_path, empty_rethinkdb_state):
    state = empty_rethinkdb_state
    with local_service(tmp_path, PASSWORD, healthy, state=state) as url:
        held = lease(state)
        assert held and held["owner"].startswith("pid ") and held["owner"].endswith(f" on {socket.gethostname()}")
        code, said = other_serve(tmp_path, state)
        assert code not in (None, 0), said
        assert f"another paasops serve ({held['owner']}) already uses this state" in said, said
        assert healthy(url)  # the first goes on
        time.sleep(6)  # renewed meanwhile (every third of its 15 s)
        assert lease(state)["expires"] > held["expires"]
    assert lease(state) is None  # given up at stop


def test_a_lapsed_lease_is_taken_over_and_a_live_one_is_not(tmp_path, empty_rethinkdb_state):
    state = empty_rethinkdb_state
    store = open_store(state)
    try:
        store.take_lease(LEASE_NAME, "pid 1 on elsewhere", "someone-else", 60.0)  # type: ignore[attr-defined]
        code, said = other_serve(tmp_path, state)
        assert code not in (None, 0) and "another paasops serve (pid 1 on elsewhere)" in said, said
        store.release_lease(LEASE_NAME, "someone-else")  # type: ignore[attr-defined]
        store.take_lease(LEASE_NAME, "pid 1 on elsewhere", "someone-else", -1.0)  # type: ignore[attr-defined]
    finally:
        store.close()
    with local_service(tmp_path, PASSWORD, healthy, state=state):
        assert lease(state)["owner"] != "pid 1 on elsewhere"
