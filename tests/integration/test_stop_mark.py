"""A replica stopped on purpose (`paasops stop`) stays stopped across a restart of the service: the mark is
in the store, and self-healing on the restarted service leaves it be; a start clears it."""

from __future__ import annotations

import time
import uuid

import pytest
from lab_support import api_call, api_login, hello_engine, local_engine_up, local_service
from test_service_lab import _wait

pytestmark = pytest.mark.integration

APP = f"kept-{uuid.uuid4().hex[:6]}"
ADMIN_PW = "kept-admin-" + uuid.uuid4().hex
HELLO = {"image": "paasops/hello:latest", "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
         "memory": "32m", "cpus": 0.1}
SETTINGS = {"PAASOPS_SUPERVISE_INTERVAL": "1"}  # a sweep every second: a wrong heal shows at once


def replicas(engine) -> dict[str, tuple[str, str]]:
    """Each replica of APP on the local engine, any state: name -> (id, status), read from Docker itself."""
    return {c.name: (c.id, c.status) for c in engine.containers.list(all=True, filters={"label": f"paasops.app={APP}"})}


def test_a_stopped_replica_stays_stopped_when_the_service_restarts(tmp_path):
    with hello_engine(APP) as engine:
        with local_service(tmp_path, ADMIN_PW, local_engine_up(ADMIN_PW), settings=SETTINGS) as url:
            token = api_login(url, "admin", ADMIN_PW)
            done = api_call(url, token, "POST", "/api/containers", json={"spec": {"name": APP, **HELLO}, "count": 2})
            assert done.status_code == 200 and done.json()["ok"], done.text
            stopped_id = replicas(engine)[f"{APP}-2"][0]
            answer = api_call(url, token, "POST", f"/api/containers/{stopped_id}/stop")
            assert answer.status_code == 200, answer.text
            time.sleep(3)  # sweeps of the first service: it leaves the stopped one (its mark in memory too)
            assert replicas(engine)[f"{APP}-2"] == (stopped_id, "exited"), replicas(engine)
        # the service is gone; a new one on the same state (store, pki) starts
        with local_service(tmp_path, ADMIN_PW, local_engine_up(ADMIN_PW), settings=SETTINGS) as url:
            token = api_login(url, "admin", ADMIN_PW)
            time.sleep(5)  # several sweeps and the start-up look at every app: without the stored mark the
            # stopped replica is "dead" and replaced (a new APP-2 running), here it is left stopped
            after = replicas(engine)
            assert after[f"{APP}-2"] == (stopped_id, "exited") and len(after) == 2, after
            heals = api_call(url, token, "GET", "/api/events", params={"app": APP, "type": "heal"}).json()
            assert heals == [], heals
            # a start clears the mark: that replica is looked after again (killed behind paasops' back: replaced)
            answer = api_call(url, token, "POST", f"/api/containers/{stopped_id}/start")
            assert answer.status_code == 200, answer.text
            engine.containers.get(stopped_id).kill()
            took = _wait(lambda: (r := replicas(engine).get(f"{APP}-2")) is not None and r[1] == "running"
                         and r[0] != stopped_id, 15, step=0.1)
            assert took is not None, replicas(engine)
