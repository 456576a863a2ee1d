"""`paasops patch` on the lab: the three hosts patched in turn (a package upgraded, dockerd restarted) while an app's
ready count never drops below desired (sampled from the engines every 200 ms, not through paasops), all undrained at
the end; a playbook failing on lab2 stops there with lab2 drained and lab3 untouched; --check and bad input change
nothing."""

from __future__ import annotations

import json
import time

import pytest
from lab_support import lab_exec, paasops
from test_drain import Sampler, deploy, engines, replicas  # noqa: F401  (engines: a Docker client per lab engine)
from test_service_lab import _wait, service  # noqa: F401  (the module's `paasops serve` on the lab)

pytestmark = pytest.mark.integration

HOSTS = ["lab1", "lab2", "lab3"]
APP = ("name: patchme\nimage: paasops/hello:latest\ncommand: [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n"
       "ports: [\"0:8080\"]\ncpus: 0.1\nmemory: 32m\n"
       "health: {http: /index.html, interval: 1s, timeout: 1s, retries: 2}\n")
COUNT = 4
PACKAGE = "paasops-lab-marker"
# The lab has no mirror: each version of a small package is built on the host, then installed by apt like an upgrade.
BUILD = ("set -e; v={version}; d=$(mktemp -d); chmod 755 $d; mkdir -p $d/DEBIAN /var/cache/paasops-lab; "
         "printf 'Package: " + PACKAGE + "\\nVersion: %s\\nArchitecture: all\\nMaintainer: paasops tests "
         "<t@example.invalid>\\nDescription: stands in for an OS package\\n' \"$v\" > $d/DEBIAN/control; "
         "dpkg-deb --build $d /var/cache/paasops-lab/marker_$v.deb >/dev/null; rm -rf $d")
INSTALL = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q /var/cache/paasops-lab/marker_{version}.deb"
PLAYBOOK = """\
- name: Patch a lab host
  hosts: all
  become: true
  tasks:
    - name: Build version {version} of the marker package
      shell: {{cmd: {build}, creates: /var/cache/paasops-lab/marker_{version}.deb}}
    - name: Upgrade the marker package
      shell: {install}
    - name: Restart dockerd (as an upgrade of docker.io does)
      service: {{name: docker, state: restarted}}
    - name: Docker API listens again
      wait_for: {{port: 2376, timeout: 60}}
"""


def playbook(tmp_path, version: str):
    path = tmp_path / f"patch-{version}.yml"
    path.write_text(PLAYBOOK.format(version=version, build=json.dumps(BUILD.format(version=version)),
                                    install=json.dumps(INSTALL.format(version=version))))
    return path


def package_version(lab, host: str) -> str:
    return lab_exec(lab, host, f"dpkg-query -W -f '${{Version}}' {PACKAGE}").stdout.strip()


def dockerd_pid(lab, host: str) -> str:
    return lab_exec(lab, host, "systemctl show -p MainPID --value docker").stdout.strip()


class ReadySampler(Sampler):
    """The app's ready replicas on the engines every 200 ms; an engine restarting counts none (it holds none then)."""

    def run(self) -> None:
        while not self.stopping.is_set():
            ready = 0
            for client in self.engines.values():
                try:
                    listed = client.api.containers(filters={"label": f"paasops.app={self.app}"})
                except Exception:  # dockerd restarting on the patched host
                    continue
                ready += sum(1 for c in listed if c["State"] == "running" and "(healthy)" in c["Status"])
            self.samples.append(ready)
            self.stopping.wait(0.2)


def patch(env, lab, clients, *args: str) -> tuple[object, float, list[int]]:
    """`paasops patch -i LAB lab ARGS` with the app's ready count sampled meanwhile."""
    sampler = ReadySampler(clients, "patchme")
    sampler.start()
    start = time.monotonic()
    try:
        done = paasops("patch", "-i", str(lab.inventory_path), "lab", *args, env={**env, "COLUMNS": "200"})
    finally:
        took = time.monotonic() - start
        sampler.stopping.set()
        sampler.join()
    return done, took, sampler.samples


def patch_events(api, since: float) -> list:
    types = ("patch-drain", "patch-play", "patch-wait", "patch-undrain", "patch-failed", "patch-done")
    return sorted((e for t in types for e in api.events(type=t, since=since, limit=1000)), key=lambda e: e.id)


@pytest.fixture(scope="module")
def patchme(service, engines, tmp_path_factory):  # noqa: F811
    """The app deployed (4 replicas, health-checked) and version 1.0 of the marker package on every lab host."""
    api, env, lab = service
    for host in HOSTS:
        setup = lab_exec(lab, host, f"apt-mark unhold {PACKAGE}; dpkg -r {PACKAGE} >/dev/null 2>&1; "
                                    f"{BUILD.format(version='1.0')} && {INSTALL.format(version='1.0')}")
        assert setup.returncode == 0, setup.stderr
        assert package_version(lab, host) == "1.0"
    deploy(env, tmp_path_factory.mktemp("patch"), APP, "--count", str(COUNT))
    assert _wait(lambda: sum(1 for listed in replicas(engines, "patchme").values() for c in listed
                             if "(healthy)" in c["Status"]) == COUNT, 60) is not None
    return api, env, lab, engines


def test_patch_goes_host_by_host_and_the_app_never_loses_ready_capacity(patchme, tmp_path):
    api, env, lab, clients = patchme
    pids = {h: dockerd_pid(lab, h) for h in HOSTS}
    since = time.time()
    done, took, samples = patch(env, lab, clients, "--playbook", str(playbook(tmp_path, "2.0")), "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    report = json.loads(done.stdout)
    print(f"\npatch of 3 hosts: {took:.1f}s; ready min {min(samples)} of {len(samples)} samples; per host: "
          + "; ".join(f"{h['host']} {h['seconds']}" for h in report["hosts"]))
    assert [(h["host"], h["status"], h["drained"]) for h in report["hosts"]] == [(h, "done", False) for h in HOSTS]
    assert report["message"] == "3 of 3 host(s) patched" and not report["stopped"]
    assert "lab1: drain" in done.stderr and "lab3: undrain" in done.stderr  # progress, on stderr
    assert len(samples) >= 10 and min(samples) >= COUNT, samples
    for host in HOSTS:  # each host upgraded, and its dockerd restarted
        assert package_version(lab, host) == "2.0"
        assert dockerd_pid(lab, host) != pids[host]
    assert all(e.status == "up" and not e.unschedulable for e in api.engines())
    # in turn: a host's drain, play, wait and undrain, then the next host's
    steps = [(e.type, e.host) for e in patch_events(api, since)]
    assert steps == [(f"patch-{s}", h) for h in HOSTS for s in ("drain", "play", "wait", "undrain")] + \
        [("patch-done", None)], steps
    assert sum(len(listed) for listed in replicas(clients, "patchme").values()) == COUNT


def test_a_failure_on_lab2_stops_there_with_lab2_drained_and_lab3_untouched(patchme, tmp_path):
    api, env, lab, clients = patchme
    assert lab_exec(lab, "lab2", f"apt-mark hold {PACKAGE}").returncode == 0  # apt refuses to upgrade it
    pid3 = dockerd_pid(lab, "lab3")
    since = time.time()
    try:
        done, took, samples = patch(env, lab, clients, "--playbook", str(playbook(tmp_path, "3.0")), "-o", "json")
        print(f"\npatch stopped at lab2: {took:.1f}s; ready min {min(samples)}\n{done.stdout}")
        assert done.returncode != 0
        report = json.loads(done.stdout)
        lab1, lab2, lab3 = report["hosts"]
        assert (lab1["status"], lab3["status"], report["stopped"]) == ("done", "untouched", True)
        assert (lab2["status"], lab2["step"], lab2["task"], lab2["drained"]) == (
            "failed", "play", "Upgrade the marker package", True)
        assert "Held packages were changed" in lab2["output"], lab2["output"]
        assert "lab2 failed at play (task 'Upgrade the marker package')" in report["message"]
        assert "not touched: lab3" in report["message"]
        assert min(samples) >= COUNT, samples
        assert api.engine("lab2").unschedulable and replicas(clients, "patchme")["lab2"] == []
        assert not api.engine("lab3").unschedulable and not api.engine("lab1").unschedulable
        assert [package_version(lab, h) for h in HOSTS] == ["3.0", "2.0", "2.0"]
        assert dockerd_pid(lab, "lab3") == pid3
        events = patch_events(api, since)
        assert all(e.host != "lab3" for e in events), events
        failed = [e for e in events if e.type == "patch-failed"]
        assert [(e.host, e.data["step"], e.data["task"]) for e in failed] == [
            ("lab2", "play", "Upgrade the marker package")]
    finally:
        lab_exec(lab, "lab2", f"apt-mark unhold {PACKAGE}")
        paasops("hosts", "undrain", "lab2", env=env)


def test_check_shows_the_plan_and_bad_input_changes_nothing(patchme, tmp_path):
    api, env, lab, clients = patchme
    book = str(playbook(tmp_path, "4.0"))
    since = time.time()
    done = paasops("patch", "-i", str(lab.inventory_path), "lab", "--playbook", book, "--check", "-o", "json",
                   env=env)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    plan = json.loads(done.stdout)
    assert plan["batches"] == [["lab1"], ["lab2"], ["lab3"]]
    moves = {h["host"]: len(h["moves"]) for h in plan["hosts"]}
    on_engines = {h: len(listed) for h, listed in replicas(clients, "patchme").items()}
    assert moves == on_engines, (moves, on_engines)  # each drain would move what runs there
    assert all(any(c["task"] == "Upgrade the marker package" for c in h["changes"]) for h in plan["hosts"])
    shown = paasops("patch", "-i", str(lab.inventory_path), "lab", "--playbook", book, "--check", env=env)
    assert shown.returncode == 0 and "nothing is changed" in shown.stdout and "patchme -> lab" in shown.stdout, \
        shown.stdout
    bad = [
        (["--serial", "0"], "--serial must be 1 or more"),
        (["--playbook", str(tmp_path / "nosuch.yml")], "cannot read playbook"),
    ]
    for args, message in bad:
        full = ["--playbook", book, *args] if args[0] != "--playbook" else args
        refused = paasops("patch", "-i", str(lab.inventory_path), "lab", *full, env=env)
        assert refused.returncode != 0 and message in refused.stderr, refused.stderr
    unknown = paasops("patch", "-i", str(lab.inventory_path), "lab1", "nosuch", "--playbook", book, env=env)
    assert unknown.returncode != 0 and "not known to the service: nosuch" in unknown.stderr, unknown.stderr
    assert patch_events(api, since) == [] and not any(e.unschedulable for e in api.engines())
    assert [package_version(lab, h) for h in HOSTS] == ["3.0", "2.0", "2.0"]
