"""Benchmark: `deploy --count 24` with a host cut off the network 1 s in, versus the same deploy with no fault.

Issue 10's acceptance: the deploy finishes in at most 1.5x the time of the same deploy with no fault, all 24
replicas running on the remaining hosts; after the host is back and one reconcile, exactly 24 replicas with
indexes 1..24 each once. (Before the fix the cut deploy took 62.5 s against ~4 s: the deployer kept sending
queued replicas to the lost host and waited out a 10 s engine timeout for each wave.)

Setup (not timed): the bench lab of `bench/swarm_lab.py` (3 hosts `paasops-swarm` declared 4/2/8 CPUs,
bootstrapped TLS engines, paasops/hello:latest loaded everywhere); no swarm is made, the engines keep their
bootstrapped configuration. Each deploy runs in a fresh in-process `Service` (SQLite, no etcd, ICMP heartbeats
every 1 s, as `paasops serve`), so both start from an empty app on warm engines.

The app: paasops/hello:latest running `httpd -f -p 8080 -h /www`, a published port, 0.1 CPU, 32 MB, 24
replicas (placement's default strategy: lab3, the largest host, takes the most).

  calm   `apps.deploy(app, 24)`, timed until it returns.
  cut    the same deploy; 1 s after it began lab3 loses its network (iptables in its namespace: every packet in
         or out of eth0 dropped, forwarded ones too), timed until it returns. Checked: every replica running,
         none on lab3. Then the cut is undone, lab3 waited for (up again), one reconcile run, and the replicas
         counted on the engines themselves: exactly one per index 1..24 (copies whose start reply was lost
         while lab3 was cut are removed by that reconcile).

The runs alternate (calm, cut, calm, cut, ...); the ratio is the median cut time over the median calm time.

    .venv/bin/python bench/deploy_cut.py [--runs 3] [--keep] [--workdir DIR]

Exit 0 when everything ran (a missed target prints MISSED), 1 when something failed to run.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from host_loss import Cut
from swarm_lab import BenchError, BenchLab, EngineRef, lab_arguments, log, ran

from paasops.lab.hello_image import HELLO_IMAGE
from paasops.vocabulary import UP

APP = "cutbench"
LABEL = "bench=deploy-cut"
REPLICAS = 24
CUT_HOST = "lab3"
CUT_AFTER_S = 1.0
TARGET = 1.5


def app_spec():
    from paasops.spec import parse_app_spec

    raw = {"name": APP, "image": HELLO_IMAGE, "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
           "ports": ["0:8080"], "cpus": 0.1, "memory": "32m", "labels": {"bench": "deploy-cut"}}
    return parse_app_spec(raw, source="bench app")


@dataclass
class Run:
    kind: str  # calm | cut
    seconds: float
    placed: dict[str, int] = field(default_factory=dict)  # host -> replicas the deploy reports running there
    replaced: int = 0  # replicas re-placed after a first attempt on the cut host
    duplicates_removed: int = 0  # by the reconcile after the host came back
    exact: bool = True  # one replica per index 1..24 on the engines at the end


def indexes_on_engines(engines: list[EngineRef]) -> Counter:
    return Counter(int(c["Labels"]["paasops.replica"]) for e in engines
                   for c in e.client.api.containers(filters={"label": LABEL, "status": "running"}))


def deploy(service) -> tuple[float, object]:
    start = time.perf_counter()
    result = service.apps.deploy(app_spec(), REPLICAS)
    return time.perf_counter() - start, result


def run_calm(lab: BenchLab) -> Run:
    service = lab.service()
    try:
        seconds, result = deploy(service)
        if not result.ok:
            raise BenchError(f"calm deploy: {len(result.failed)} replicas failed")
        run = Run("calm", seconds, dict(Counter(r.host for r in result.replicas)))
        log(f"    calm: {seconds:.2f} s, {run.placed}")
        return run
    finally:
        service.stop()
        lab.clean()


def run_cut(lab: BenchLab) -> Run:
    service = lab.service()
    try:
        handle = service.cluster.engines[CUT_HOST]
        outcome: dict[str, object] = {}

        def deploying() -> None:
            try:
                outcome["timed"] = deploy(service)
            except Exception as exc:  # reported below
                outcome["error"] = exc
        worker = threading.Thread(target=deploying, daemon=True)
        with Cut(lab.engine(CUT_HOST)):
            worker.start()
            time.sleep(CUT_AFTER_S)
            worker.join(300)
            if "timed" not in outcome:
                raise BenchError(f"cut deploy: {outcome.get('error', 'still running after 300 s')}")
            seconds, result = outcome["timed"]  # type: ignore[misc]
        failed = [r for r in result.replicas if r.status != "running" or r.host == CUT_HOST]
        if failed or len(result.replicas) != REPLICAS:
            raise BenchError(f"cut deploy: {len(failed)} replicas not running off {CUT_HOST}: "
                             f"{[(r.index, r.host, r.status) for r in failed][:6]}")
        run = Run("cut", seconds, dict(Counter(r.host for r in result.replicas)),
                  replaced=sum(CUT_HOST in r.attempts[:-1] for r in result.replicas))
        deadline = time.monotonic() + 90
        while handle.status != UP:
            if time.monotonic() > deadline:
                raise BenchError(f"{CUT_HOST} not up again 90 s after the cut was undone ({handle.status})")
            time.sleep(0.3)
        time.sleep(2.0)  # the engine's event stream back: what landed there while cut is in the cache
        from paasops.service.reconcile_apply import Reconciler

        done = Reconciler.for_service(service).run(apps=[APP])
        run.duplicates_removed = sum(a.reason == "duplicate" for a in done.actions)
        counts = indexes_on_engines(lab.engines)
        run.exact = sorted(counts) == list(range(1, REPLICAS + 1)) and set(counts.values()) == {1}
        log(f"    cut: {seconds:.2f} s, {run.placed}, {run.replaced} re-placed; after {CUT_HOST} came back one "
            f"reconcile removed {run.duplicates_removed} lost-reply copies; indexes 1..{REPLICAS} each once: "
            f"{run.exact}")
        return run
    finally:
        service.stop()
        lab.clean()


def report(runs: list[Run]) -> None:
    calm = [r.seconds for r in runs if r.kind == "calm"]
    cut = [r.seconds for r in runs if r.kind == "cut"]
    print()
    print(f"    deploy --count {REPLICAS}, {CUT_HOST} cut {CUT_AFTER_S:g} s in, versus no fault (runs alternate)")
    print(f"    {'run':<6}{'seconds':>9}  placed                         re-placed  dup. removed  exact 1..{REPLICAS}")
    for r in runs:
        placed = ", ".join(f"{h} {n}" for h, n in sorted(r.placed.items()))
        extra = (f"{r.replaced:>9}  {r.duplicates_removed:>12}  {'yes' if r.exact else 'NO'}" if r.kind == "cut"
                 else "")
        print(f"    {r.kind:<6}{r.seconds:>9.2f}  {placed:<31}{extra}")
    if calm and cut:
        ratio = statistics.median(cut) / statistics.median(calm)
        exact = all(r.exact for r in runs)
        verdict = "ok" if ratio <= TARGET else "MISSED"
        print(f"\n    cut / calm, median {statistics.median(cut):.2f} s / {statistics.median(calm):.2f} s = "
              f"{ratio:.2f}x   target <= {TARGET}x  {verdict}")
        print(f"    per run: {' '.join(f'{c / m:.2f}x' for c, m in zip(cut, calm, strict=False))}   "
              f"exactly one replica per index after the reconcile: {'every run' if exact else 'NOT every run'}")


def main() -> int:
    parser = lab_arguments(__doc__)
    parser.set_defaults(runs=3)
    args = parser.parse_args()
    runs: list[Run] = []
    started = time.perf_counter()

    def body() -> None:
        with BenchLab(LABEL, keep=args.keep, workdir=args.workdir) as lab:
            for n in range(args.runs):
                log(f"run {n + 1}/{args.runs}")
                runs.append(run_calm(lab))
                runs.append(run_cut(lab))
    ok = ran(body)
    report(runs)
    log(f"total {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
