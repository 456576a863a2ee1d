"""Host drain on the lab: replicas move start-first (ready count never below desired, sampled from the engines),
the host ends empty and takes nothing new until undrained; a drain the others cannot hold is refused up front."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest
from lab_support import paasops
from test_service_lab import _wait, service  # noqa: F401  (the module's `paasops serve` on the lab)

from paasops.engines.client import make_client

pytestmark = pytest.mark.integration

HTTPD = 'image: paasops/hello:latest\ncommand: ["httpd", "-f", "-p", "8080", "-h", "/www"]\nports: ["0:8080"]\n'
# binpack: all 3 on one host, so the drain moves every replica
APP = "name: drainme\n" + HTTPD + ("cpus: 0.1\nmemory: 32m\nstrategy: binpack\n"
                                  "health: {http: /index.html, interval: 1s, timeout: 1s, retries: 2}\n")
BIG = "name: bigmem\n" + HTTPD + "memory: 3000m\n"
FOREIGN = "drain-foreign"


@pytest.fixture(scope="module")
def engines(service, pki_dir):  # noqa: F811
    """A Docker client of each lab engine, straight to its API (not through paasops)."""
    _, _, lab = service
    clients = {h.name: make_client(h.address, 2376, pki_dir=pki_dir, timeout=10) for h in lab.hosts()}
    yield clients
    for client in clients.values():
        client.close()


def replicas(engines, app: str) -> dict[str, list[dict]]:
    """Engine -> the app's containers there, as the engine lists them."""
    return {name: client.api.containers(all=True, filters={"label": f"paasops.app={app}"})
            for name, client in engines.items()}


def ready_count(engines, app: str) -> int:
    return sum(1 for listed in replicas(engines, app).values() for c in listed
               if c["State"] == "running" and "(healthy)" in c["Status"])


class Sampler(threading.Thread):
    """Counts the app's ready replicas on the engines every 200 ms until stopped."""

    def __init__(self, engines, app: str):
        super().__init__(daemon=True)
        self.engines, self.app = engines, app
        self.samples: list[int] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.samples.append(ready_count(self.engines, self.app))
            self.stopping.wait(0.2)


def deploy(env: dict, tmp_path, text: str, *args: str) -> dict:
    app_yml = tmp_path / (text.split("\n", 1)[0].split()[1] + ".yml")
    app_yml.write_text(text)
    done = paasops("deploy", str(app_yml), *args, "-o", "json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_drain_moves_replicas_start_first_and_the_host_takes_nothing_until_undrained(service, engines,  # noqa: F811
                                                                                      tmp_path):
    api, env, _ = service
    deploy(env, tmp_path, APP, "--count", "3")
    assert _wait(lambda: ready_count(engines, "drainme") == 3, 60) is not None
    before = {name: len(listed) for name, listed in replicas(engines, "drainme").items()}
    host = max(before, key=lambda h: (before[h], h))
    assert before[host] == 3, before
    foreign = engines[host].containers.run("paasops/hello:latest", ["httpd", "-f", "-p", "8080", "-h", "/www"],
                                          name=FOREIGN, detach=True)
    try:
        drain_and_check(api, env, engines, tmp_path, host, before[host], foreign)
    finally:
        foreign.remove(force=True)


def verdict(env: dict, tmp_path, host: str) -> tuple[str, str | None]:
    """What a dry run of the app says of `host`: fits, or rejected and why."""
    plan = paasops("deploy", str(tmp_path / "drainme.yml"), "--dry-run", "-o", "json", env=env, check=True)
    row = next(r for r in json.loads(plan.stdout)["explanation"] if r["host"] == host)
    return row["status"], row["reason"]


def drain_and_check(api, env, engines, tmp_path, host: str, count: int, foreign) -> None:
    sampler = Sampler(engines, "drainme")
    sampler.start()
    start = time.monotonic()
    try:
        done = paasops("hosts", "drain", host, env={**env, "COLUMNS": "200"})
    finally:
        took = time.monotonic() - start
        sampler.stopping.set()
        sampler.join()
    print(f"\ndrain of {host} ({count} replicas): {took:.1f}s; ready counts sampled: "
          f"min {min(sampler.samples)} of {len(sampler.samples)} samples\n{done.stderr}{done.stdout}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{host} is empty ({count} replicas moved)" in done.stdout
    assert f"{host} is unschedulable" in done.stderr and FOREIGN in done.stdout  # progress, and what was left
    assert len(sampler.samples) >= 5 and min(sampler.samples) >= 3, sampler.samples
    after = replicas(engines, "drainme")
    assert after[host] == [], after[host]
    running = [c for listed in after.values() for c in listed if c["State"] == "running"]
    assert sorted(Counter(int(c["Labels"]["paasops.replica"]) for c in running).items()) == [(1, 1), (2, 1), (3, 1)]
    foreign.reload()
    assert foreign.status == "running"  # not paasops': left alone
    assert api.engine(host).unschedulable
    assert "DRAINED" in paasops("hosts", "list", env={**env, "COLUMNS": "200"}, check=True).stdout
    again = paasops("hosts", "drain", host, "-o", "json", env=env, check=True)
    assert json.loads(again.stdout)["already"] and json.loads(again.stdout)["moved"] == []

    scaled = paasops("scale", "drainme", "6", "-o", "json", env=env, check=True)  # new placements avoid it
    assert all(r["host"] != host for r in json.loads(scaled.stdout)["replicas"])
    assert replicas(engines, "drainme")[host] == []
    assert [e.type for e in api.events(type="drain-host", host=host)]

    assert verdict(env, tmp_path, host) == ("rejected", "drained (unschedulable until `paasops hosts undrain`)")

    undone = paasops("hosts", "undrain", host, env=env, check=True)
    assert f"{host} takes placements again" in undone.stdout and not api.engine(host).unschedulable
    assert "was not drained" in paasops("hosts", "undrain", host, env=env, check=True).stdout
    assert verdict(env, tmp_path, host) == ("fits", None)  # placeable again


def test_drain_is_refused_when_the_others_cannot_hold_the_replicas_and_nothing_changes(service, engines,  # noqa: F811
                                                                                        tmp_path):
    api, env, _ = service
    deploy(env, tmp_path, BIG, "--count", "2")  # 3000 MB each: lab3 (8 GB) takes what lab1 (4 GB) and lab2 cannot
    placed = {name: [c["Id"] for c in listed] for name, listed in replicas(engines, "bigmem").items()}
    assert placed["lab3"], placed
    done = paasops("hosts", "drain", "lab3", env=env)
    assert done.returncode != 0
    assert "cannot drain lab3: bigmem does not fit on the other hosts" in done.stderr, done.stderr
    assert "memory: needs 3000 MB" in done.stderr, done.stderr
    assert not api.engine("lab3").unschedulable
    assert {name: [c["Id"] for c in listed] for name, listed in replicas(engines, "bigmem").items()} == placed
    unknown = paasops("hosts", "drain", "nosuch", env=env)
    assert unknown.returncode != 0 and "no engine 'nosuch'" in unknown.stderr, unknown.stderr
    assert paasops("apps", "rm", "bigmem", env=env).returncode == 0


def test_cordon_keeps_the_replicas_where_they_run_and_places_nothing_new_until_undrained(service, engines,  # noqa: F811
                                                                                         tmp_path):
    api, env, _ = service
    spread = APP.replace("name: drainme", "name: cordonme").replace("strategy: binpack", "strategy: spread")
    deploy(env, tmp_path, spread, "--count", "3")
    before = {name: sorted(c["Id"] for c in listed) for name, listed in replicas(engines, "cordonme").items()}
    host = "lab1"
    assert before[host], before
    done = paasops("hosts", "cordon", host, env=env, check=True)
    assert f"{host} takes no new placements" in done.stdout and api.engine(host).unschedulable
    assert "already unschedulable" in paasops("hosts", "cordon", host, env=env, check=True).stdout
    assert {name: sorted(c["Id"] for c in listed) for name, listed in replicas(engines, "cordonme").items()} \
        == before  # nothing moved
    scaled = paasops("scale", "cordonme", "6", "-o", "json", env=env, check=True)
    assert all(r["host"] != host for r in json.loads(scaled.stdout)["replicas"])
    assert sorted(c["Id"] for c in replicas(engines, "cordonme")[host]) == before[host]
    assert [e.type for e in api.events(type="cordon-host", host=host)] == ["cordon-host"]
    unknown = paasops("hosts", "cordon", "nosuch", env=env)
    assert unknown.returncode != 0 and "no engine 'nosuch'" in unknown.stderr, unknown.stderr
    paasops("hosts", "undrain", host, env=env, check=True)
    assert not api.engine(host).unschedulable
    assert paasops("apps", "rm", "cordonme", env=env).returncode == 0
