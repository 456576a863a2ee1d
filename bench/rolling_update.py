"""Benchmark: a rolling update of 16 replicas (parallelism 2, start-first, health check every 1 s), paasops vs Swarm.

Setup (not timed): the bench lab of `bench/swarm_lab.py` (3 hosts `paasops-swarm`, bootstrapped TLS engines,
paasops/hello:latest loaded everywhere), live-restore turned off on the 3 hosts (Swarm refuses it) and a
3-node swarm made on them (manager lab1). Both methods run on these same engines, alternately.

The same app for both: paasops/hello:latest running `httpd -f -p 8080 -h /www`, 0.05 CPU, 16 MB, env
GREETING=v1, an http health check of `/` on port 8080 run by the engine (busybox `wget`) every 1 s
(timeout 5 s, retries 3, no start period: paasops' defaults, given to Swarm as flags), 16 replicas. Each run
starts it (not timed), waits until all 16 are healthy, then times the update to GREETING=v2, nothing else:

  paasops  an in-process `Service` (bench/swarm_lab.py): `apps.deploy(v2)` where v2 also carries
           `update: {parallelism: 2, order: start-first}` (the update policy's other fields at their
           defaults, monitor 5 s as Swarm's). Without the `update:` block (a paasops before rolling
           updates) v2 is deployed without it: today's start-all-then-replace, labelled as such.
  swarm    `docker service update --update-parallelism 2 --update-order start-first --env-add GREETING=v2
           --health-cmd ... --health-interval 1s ...` (the CLI over the manager's TLS API, waiting as it
           does by default: until the update converged and its 5 s monitor passed).

Times per run: until the command returned; until the engines showed 16 healthy new replicas ("converged"), and
until no old one ran any more ("old gone": Swarm stops old tasks with SIGTERM and a 10 s grace, which httpd
as PID 1 does not heed), sampled every 200 ms from the engines, independently of either system; the samples
also give the fewest ready (healthy) replicas and the most running ones until the old ones were gone.

    .venv/bin/python bench/rolling_update.py [--runs 2] [--keep] [--workdir DIR]

Exit 0 when everything ran (a missed target prints MISSED), 1 when something failed to run.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field

from swarm_lab import COMMAND, CPUS, MEMORY_MB, BenchError, BenchLab, EngineRef, lab_arguments, log, run_rounds

from paasops.health_check import health_from_status
from paasops.lab.hello_image import HELLO_IMAGE
from paasops.vocabulary import HEALTH_HEALTHY

APP = "rollbench"
LABEL = "bench=rolling-update"
REPLICAS = 16
HEALTH = {"http": "/", "port": 8080, "interval": "1s"}
PROBE = "wget -q -O /dev/null http://127.0.0.1:8080/"  # what paasops' http check runs (docker_healthcheck)
SWARM_HEALTH = ["--health-cmd", PROBE, "--health-interval", "1s", "--health-timeout", "5s",
                "--health-retries", "3", "--health-start-period", "0s"]
UPDATE = {"parallelism": 2, "order": "start-first"}
TARGET = 0.8
SAMPLE_S = 0.2
RUN_TIMEOUT = 240.0


def has_rolling() -> bool:
    """Whether this paasops knows the `update:` block (the rolling deploy path)."""
    from paasops.spec import AppSpec

    return "update" in AppSpec.model_fields


def app_spec(greeting: str, *, update: bool):
    from paasops.spec import parse_app_spec

    raw = {"name": APP, "image": HELLO_IMAGE, "command": COMMAND, "cpus": CPUS, "memory": f"{MEMORY_MB}m",
           "env": {"GREETING": greeting}, "health": HEALTH, "labels": {"bench": "rolling-update"}}
    if update:
        raw["update"] = UPDATE
    return parse_app_spec(raw, source="bench app")


@dataclass
class Sample:
    at: float
    ready: int  # healthy replicas, either release
    running: int
    new_ready: int
    old_running: int


class Sampler:
    """Polls the engines for the app's containers; tells when the update is done as seen from the engines."""

    def __init__(self, engines: list[EngineRef], old: set[str], start: float):
        self.engines, self.old, self.start = engines, old, start
        self.samples: list[Sample] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def observe(self) -> Sample:
        ready = running = new_ready = old_running = 0
        for e in self.engines:
            for c in e.client.api.containers(filters={"label": LABEL, "status": "running"}):
                healthy = health_from_status(c.get("Status", "")) == HEALTH_HEALTHY
                running += 1
                ready += healthy
                if c["Id"] in self.old:
                    old_running += 1
                else:
                    new_ready += healthy
        return Sample(time.perf_counter() - self.start, ready, running, new_ready, old_running)

    def _loop(self) -> None:
        while not self.done.is_set():
            try:
                self.samples.append(self.observe())
            except Exception as exc:  # an engine hiccup: the next sample will do
                log(f"sampler: {exc}")
            self.done.wait(SAMPLE_S)

    def converged_at(self) -> float | None:
        return next((s.at for s in self.samples if s.new_ready >= REPLICAS), None)

    def cadence(self) -> list[float]:
        """When 2, 4, ... 16 new replicas were first healthy: a batch's pace."""
        return [next((s.at for s in self.samples if s.new_ready >= k), float("nan")) for k in range(2, REPLICAS + 1, 2)]

    def old_gone_at(self) -> float | None:
        return next((s.at for s in self.samples if s.new_ready >= REPLICAS and s.old_running == 0), None)

    def wait(self, timeout: float) -> float:
        """Seconds until 16 new replicas were healthy; returns once the old ones are gone too."""
        deadline = time.monotonic() + timeout
        while self.old_gone_at() is None:
            if time.monotonic() > deadline:
                last = self.samples[-1] if self.samples else None
                raise BenchError(f"the update did not converge within {timeout:.0f} s (last sample: {last})")
            time.sleep(SAMPLE_S)
        return self.converged_at() or 0.0

    def stop(self) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.thread.join(5)


@dataclass
class Run:
    method: str
    returned: float  # seconds until the command returned
    converged: float  # seconds until the engines showed 16 healthy new replicas
    old_gone: float  # and until no old one ran any more (Swarm stops them with a grace period)
    min_ready: int
    max_running: int
    load: float
    cadence: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def all_ids(engines: list[EngineRef]) -> set[str]:
    return {c["Id"] for e in engines for c in e.client.api.containers(filters={"label": LABEL})}


def wait_healthy(engines: list[EngineRef], what: str) -> None:
    probe = Sampler(engines, set(), time.perf_counter())
    deadline = time.monotonic() + RUN_TIMEOUT
    while (s := probe.observe()).ready < REPLICAS or s.running != REPLICAS:
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: {s.ready}/{REPLICAS} healthy ({s.running} running) after {RUN_TIMEOUT:.0f} s")
        time.sleep(0.3)


def timed_update(engines: list[EngineRef], method: str, update) -> Run:
    """Time `update()` (it returns when the command does) and the engines' convergence after it."""
    time.sleep(1.0)  # the v1 replicas settle; nothing of the bench runs now
    load = os.getloadavg()[0]
    old = all_ids(engines)
    start = time.perf_counter()
    sampler = Sampler(engines, old, start)
    sampler.thread.start()  # samples during the update, not only after the command returned
    try:
        notes = update()
        returned = time.perf_counter() - start
        converged = sampler.wait(RUN_TIMEOUT)
    finally:
        sampler.stop()
    old_gone = sampler.old_gone_at() or converged
    during = [s for s in sampler.samples if s.at <= old_gone] or sampler.samples
    run = Run(method, returned, converged, old_gone, min(s.ready for s in during),
              max(s.running for s in during), load, sampler.cadence(), notes or [])
    log(f"    {method}: returned {returned:.2f} s, converged {converged:.2f} s, old gone {run.old_gone:.2f} s, "
        f"ready >= {run.min_ready}, running <= {run.max_running} (load {load:.1f}); new ready by 2s at "
        f"{' '.join(f'{t:.1f}' for t in run.cadence)}")
    return run


def run_paasops(lab: BenchLab, rolling: bool) -> Run:
    service = lab.service()
    try:
        first = service.apps.deploy(app_spec("v1", update=rolling), REPLICAS)
        if not first.ok:
            raise BenchError(f"paasops deploy v1: {len(first.failed)} replicas failed")
        wait_healthy(lab.engines, "paasops v1")

        def update() -> list[str]:
            result = service.apps.deploy(app_spec("v2", update=rolling), REPLICAS)
            if not result.ok:
                raise BenchError(f"paasops deploy v2 failed: {[f.error for f in result.failed][:3]}")
            return [f"new release: {result.new_release}, changed {[c.field for c in result.changes]}"]
        return timed_update(lab.engines, "paasops" if rolling else "paasops (before rolling updates)", update)
    finally:
        service.stop()
        lab.clean()


def run_swarm(lab: BenchLab) -> Run:
    nano = str(CPUS)
    lab.docker_cli("service", "create", "--detach", "--name", APP, "--replicas", str(REPLICAS),
                   "--env", "GREETING=v1", *SWARM_HEALTH, "--limit-cpu", nano, "--reserve-cpu", nano,
                   "--limit-memory", f"{MEMORY_MB}m", "--reserve-memory", f"{MEMORY_MB}m",
                   "--container-label", LABEL, HELLO_IMAGE, *COMMAND)
    assert lab.swarm is not None
    try:
        wait_healthy(lab.engines, "swarm v1")

        def update() -> list[str]:
            lab.docker_cli("service", "update", "--quiet", "--detach=false", "--update-parallelism", "2",
                           "--update-order", "start-first", "--env-add", "GREETING=v2", *SWARM_HEALTH, APP,
                           timeout=RUN_TIMEOUT)
            status = lab.swarm.manager.services.get(APP).attrs.get("UpdateStatus", {})  # type: ignore[union-attr]
            if status.get("State") != "completed":
                raise BenchError(f"swarm update ended {status.get('State')}: {status.get('Message')}")
            return []
        return timed_update(lab.engines, "swarm", update)
    finally:
        try:
            lab.swarm.remove_service(lab.swarm.manager.services.get(APP), APP)
        except Exception as exc:  # not created, or gone: the cleanup below removes what is left
            log(f"swarm service rm: {exc}")
        lab.clean()


def report(runs: list[Run], rolling: bool) -> None:
    print()
    print(f"Rolling update of {REPLICAS} replicas ({HELLO_IMAGE}, {CPUS} CPU, {MEMORY_MB} MB), env GREETING v1 -> v2, "
          f"parallelism 2, start-first, http health check every 1 s; 3 lab engines, live-restore off")
    if not rolling:
        print("paasops BEFORE ROLLING UPDATES: this paasops has no `update:` block; v2 is deployed the only way it "
              "knows (start all 16 new replicas, then remove the old ones; it does not wait for health)")
    print()
    print(f"{'method':<34} {'returned s':>10} {'converged s':>11} {'old gone s':>10}  "
          f"{'runs (returned/converged)':<26} {'min ready':>9} {'max running':>11}")
    by: dict[str, list[Run]] = {}
    for r in runs:
        by.setdefault(r.method, []).append(r)
    for method, rs in by.items():
        med = {what: statistics.median(getattr(r, what) for r in rs) for what in ("returned", "converged", "old_gone")}
        print(f"{method:<34} {med['returned']:>10.2f} {med['converged']:>11.2f} {med['old_gone']:>10.2f}  "
              f"{' '.join(f'{r.returned:.1f}/{r.converged:.1f}' for r in rs):<26} "
              f"{min(r.min_ready for r in rs):>9} {max(r.max_running for r in rs):>11}")
        gaps = [b - a for r in rs for a, b in zip(r.cadence, r.cadence[1:], strict=False)]
        if gaps and all(g == g for g in gaps):  # no NaN: every batch was seen
            print(f"{'':<34} first 2 new ready at {statistics.median(r.cadence[0] for r in rs):.2f} s, then 2 more "
                  f"every {statistics.median(gaps):.2f} s (median)")
    swarm = by.get("swarm")
    mine = next((rs for m, rs in by.items() if m.startswith("paasops")), None)
    if swarm and mine:
        print()
        for what in ("returned", "converged"):
            p = statistics.median(getattr(r, what) for r in mine)
            s = statistics.median(getattr(r, what) for r in swarm)
            verdict = "ok" if p / s <= TARGET else "MISSED"
            label = "" if rolling else " (BEFORE rolling updates)"
            print(f"paasops / swarm, {what:<9} median {p / s:.2f}x   target <= {TARGET}x  {verdict}{label}")
    loads = [r.load for r in runs]
    if loads:
        print(f"machine: {os.cpu_count()} CPUs shared by the 3 lab engines, the bench and other work; "
              f"1-min load average {min(loads):.1f}-{max(loads):.1f} at the runs")


def main() -> int:
    args = lab_arguments(__doc__).parse_args()
    rolling = has_rolling()
    log(f"paasops {'with' if rolling else 'WITHOUT'} rolling updates (`update:` block)")
    runs: list[Run] = []

    def one_round(lab: BenchLab) -> None:
        if not args.skip_swarm:
            runs.append(run_swarm(lab))
        runs.append(run_paasops(lab, rolling))
    return run_rounds(args, LABEL, one_round, lambda: report(runs, rolling))


if __name__ == "__main__":
    sys.exit(main())
