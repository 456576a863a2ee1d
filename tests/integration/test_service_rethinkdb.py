"""`paasops serve --state rethinkdb://…` on this machine's dockerd: deploy, scale, restart the service
(records intact), the event stream, an app changed by another process reconciled, and a store outage (writes 503, /healthz down, reads answer) and
its end (the service recovers without a restart)."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid

import httpx
import pytest
import yaml
from lab_support import ROOT, hello_engine, local_service

from paasops.store import open_store

pytestmark = [pytest.mark.integration, pytest.mark.rethinkdb]
APP = f"rdbtest-{uuid.uuid4().hex[:6]}"
ADMIN_PASSWORD = "rdb-test-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def engine():
    with hello_engine(APP) as client:
        yield client


def login(url: str) -> dict[str, str]:
    answer = httpx.post(f"{url}/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=10)
    return {"X-Access-Token": answer.json()["token"]}


def engine_up(url: str) -> bool:
    answer = httpx.post(f"{url}/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=10)
    if answer.status_code != 200:  # e.g. 503 while a loaded RethinkDB answers slowly: not ready yet
        print("not ready:", answer.status_code, answer.text)
        return False
    headers = {"X-Access-Token": answer.json()["token"]}
    engines = httpx.get(f"{url}/api/engines", headers=headers, timeout=2).json()
    return [e["status"] for e in engines] == ["up"]


def eventually(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return value


class Stream:
    """GET /api/events/stream read on a thread, its events in a queue."""

    def __init__(self, url: str, headers: dict, **params):
        self.events: queue.Queue = queue.Queue()
        self.client = httpx.Client(base_url=url, headers=headers, timeout=httpx.Timeout(10, read=None))
        self.response = self.client.send(self.client.build_request("GET", "/api/events/stream", params=params),
                                         stream=True)
        assert self.response.status_code == 200, self.response.read()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for line in self.response.iter_lines():
                if line.strip():
                    self.events.put(json.loads(line))
        except httpx.HTTPError:
            pass

    def next_of(self, type_: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if event["type"] == type_:
                return event

    def close(self):
        self.response.close()
        self.client.close()


def test_deploy_scale_restart_outage_and_recovery(engine, tmp_path, rethinkdb_server, empty_rethinkdb_state):
    rethinkdb_state = empty_rethinkdb_state  # the run's database, emptied: other tests leave their own admin there
    spec = {**yaml.safe_load((ROOT / "examples" / "app.yml").read_text()), "name": APP, "count": 1}
    with local_service(tmp_path, ADMIN_PASSWORD, engine_up, state=rethinkdb_state) as url:
        auth = login(url)
        stream = Stream(url, auth, app=APP)
        try:
            deployed = httpx.post(f"{url}/api/containers", headers=auth, timeout=60,
                                  json={"spec": spec, "count": 1}).json()
            assert deployed["ok"], deployed
            assert stream.next_of("deploy-app")["app"] == APP  # the shared feed brings it to the stream
            scaled = httpx.post(f"{url}/api/apps/{APP}/scale", headers=auth, json={"count": 2}, timeout=60)
            assert scaled.status_code == 200 and scaled.json()["running"] == 2, scaled.text
            assert stream.next_of("scale-container")["app"] == APP
        finally:
            stream.close()

    # A new service process on the same store: accounts, apps, events and the deployment intact.
    with local_service(tmp_path, "not-used-on-a-second-start", engine_up, state=rethinkdb_state) as url:
        auth = login(url)
        [app] = httpx.get(f"{url}/api/apps", headers=auth, timeout=10).json()
        assert (app["name"], app["count"], app["deployment_id"], app["replicas"]) == \
               (APP, 2, deployed["deployment"], 2)
        assert [a["name"] for a in httpx.get(f"{url}/api/accounts", headers=auth, timeout=10).json()] == ["admin"]
        kinds = {e["type"] for e in httpx.get(f"{url}/api/events", headers=auth, params={"app": APP},
                                                timeout=10).json()}
        assert {"deploy-app", "scale-container", "run-container"} <= kinds
        assert httpx.get(f"{url}/healthz", timeout=5).json()["store"] == "up"

        # Another process sharing the store changes the desired count: this service reconciles at once.
        with open_store(rethinkdb_state) as other:
            changed = other.get_app(APP)
            assert changed is not None
            changed.count = 3
            other.put_app(changed)
        assert eventually(lambda: httpx.get(f"{url}/api/apps/{APP}", headers=auth, timeout=10).json()["replicas"]
                          == 3, 30)

        if rethinkdb_server is None:  # a server of the user's own: not ours to stop
            return
        stream = Stream(url, auth, app=APP)
        rethinkdb_server.stop(remove=False)
        try:
            where = f"127.0.0.1:{rethinkdb_server.driver_port}"
            health = eventually(lambda: (h := httpx.get(f"{url}/healthz", timeout=10).json())["store"] != "up"
                                and h)
            assert health["ok"] is False and health["store"].startswith("down: ") and where in health["store"]
            write = httpx.post(f"{url}/api/apps/{APP}/scale", headers=auth, json={"count": 1}, timeout=30)
            assert write.status_code == 503, write.text
            assert where in write.json()["error"] and write.json()["type"] == "StoreUnavailable"
            read = httpx.get(f"{url}/api/containers", headers=auth, params={"app": APP}, timeout=10)
            assert read.status_code == 200 and len(read.json()) == 3  # from memory, token from the cache
            engine.containers.get(read.json()[0]["id"]).restart(timeout=1)  # Docker events, buffered
        finally:
            rethinkdb_server.restart()

        assert eventually(lambda: httpx.get(f"{url}/healthz", timeout=10).json()["store"] == "up", 30)
        scaled = httpx.post(f"{url}/api/apps/{APP}/scale", headers=auth, json={"count": 1}, timeout=60)
        assert scaled.status_code == 200 and scaled.json()["running"] == 1, scaled.text
        try:
            assert stream.next_of("scale-container", timeout=15)["message"].startswith(f"scaled {APP} from 3 to 1")
        finally:
            stream.close()
        restarts = httpx.get(f"{url}/api/events", headers=auth, params={"app": APP, "type": "restart"},
                             timeout=10).json()
        kinds = {e["type"] for e in httpx.get(f"{url}/api/events", headers=auth, params={"app": APP},
                                                timeout=10).json()}
        assert restarts or "die" in kinds  # recorded during the outage, written once the store was back
        httpx.post(f"{url}/api/apps/{APP}/scale", headers=auth, json={"count": 0}, timeout=60)
