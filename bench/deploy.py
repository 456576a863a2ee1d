"""Benchmark: deploy of 64 replicas on 3 lab engines, versus the raw floor and versus Docker Swarm.

Setup (not timed): a lab of 3 hosts named `paasops-swarm` (its own network, etcd and inventory in a
temporary directory), bootstrapped with `paasops bootstrap` into TLS Docker engines on port 2376
with a cluster CA of its own (temporary pki dir); the image paasops/hello:latest is loaded into
the 3 engines before anything is timed, so no run measures an image transfer.

The same app everywhere: paasops/hello:latest running `httpd -f -p 8080 -h /www`, 0.05 CPU, 16 MB,
no published ports, 64 replicas; each run starts on engines with none of its containers.

  paasops  an in-process `Service` (SQLite state, no etcd: the 3 engines added by hand with their
           declared capacities, event streams and heartbeats running as in `paasops serve`);
           timed: `service.apps.deploy(spec, 64)` until it returns with 64 replicas running.
  floor    the same 64 `containers.run(**docker_run_kwargs(...))` calls (same names, labels and
           kwargs paasops sends) straight to the engines with the docker SDK, from a
           ThreadPoolExecutor of per_host x 3 workers, each replica on the host paasops' plan gave
           it; SDK clients made and connected before timing.
  swarm    `docker swarm init` on lab1's engine over its TLS API, lab2 and lab3 joined, then
           `services.create(..., replicas=64)` with the same limits (and the same reservations);
           timed until the service's 64 tasks are `running`. Swarm refuses to start on an engine
           with `live-restore` (which bootstrap sets, see SPEC): for the Swarm phase the bench
           turns it off on the 3 lab hosts (daemon.json, restart dockerd). If a 3-node Swarm still
           cannot run, it falls back to a single-node swarm on this machine's own dockerd and says so.

Phase 1 (the bootstrapped engines): paasops and the floor alternate (paasops, floor, paasops, ...)
so load drift from other work on the machine hits both alike: paasops/floor (target <= 1.2x).
Phase 2 (the Swarm-compatible engines): Swarm and paasops alternate the same way: paasops/swarm
(target < 1) compares runs under the same engine configuration and load. Median and min of each,
and the CPU seconds the lab hosts and this process used (steadier than wall time on a busy
machine). `--profile` adds one more paasops run, outside the table, with every step of the deploy
path timed (where the time goes).

    .venv/bin/python bench/deploy.py [--keep] [--runs 3] [--profile] [--skip-swarm]

Exit 0 when everything ran (a missed target prints MISSED), 1 when something failed to run.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from swarm_lab import (
    BENCH_ETCD_PEER_PORT,
    COMMAND,
    CPUS,
    LAB_NAME,
    MEMORY_MB,
    BenchError,
    EngineRef,
    Swarm,
    bootstrap,
    engine_client,
    log,
    new_service,
    own_etcd_peer_port,
    running_count,
    set_live_restore,
)
from swarm_lab import cleanup as cleanup_label

from paasops.lab import Lab
from paasops.lab.hello_image import HELLO_IMAGE, ensure_hello_image
from paasops.vocabulary import LABEL_LAB

APP = "swbench"
BENCH_LABEL = ("bench", "deploy-swarm")  # on every container of every method, for the cleanup
LABEL = f"{BENCH_LABEL[0]}={BENCH_LABEL[1]}"
TARGET_FLOOR, TARGET_SWARM = 1.2, 1.0
RUN_TIMEOUT = 180.0


# -- machine load ----------------------------------------------------------------------------

def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# cpuacct.usage (ns) of the lab hosts' containers: their dockerd, containerd, runc and the replicas
ENGINE_CGROUPS: list[Path] = []


def _cgroup_seconds(path: Path) -> float:
    if path.name == "cpu.stat":  # cgroup v2
        fields = dict(line.split() for line in path.read_text().splitlines())
        return int(fields["usage_usec"]) / 1e6
    return int(path.read_text()) / 1e9  # cgroup v1 cpuacct.usage


def engine_cgroups(container_ids: list[str]) -> list[Path]:
    """The CPU accounting file of each lab host container on this machine, or [] if not found."""
    found = []
    for cid in container_ids:
        for candidate in (Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage"),
                          Path(f"/sys/fs/cgroup/cpu,cpuacct/docker/{cid}/cpuacct.usage"),
                          Path(f"/sys/fs/cgroup/docker/{cid}/cpu.stat"),
                          Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat")):
            if candidate.exists():
                found.append(candidate)
                break
        else:
            return []
    return found


def _engines_cpu() -> float | None:
    try:
        return sum(_cgroup_seconds(p) for p in ENGINE_CGROUPS) if ENGINE_CGROUPS else None
    except (OSError, KeyError, ValueError):
        return None


@dataclass
class Run:
    method: str
    seconds: float
    load: float  # 1-min load average at the start
    busy: float  # share of all CPUs busy during the run (whole machine)
    before: float  # share of all CPUs busy in the second before the run (others' work: contention)
    engine_cpu: float | None  # CPU seconds the 3 lab hosts used during the run
    client_cpu: float  # CPU seconds this process used (paasops: the whole service; floor: the SDK calls)
    by_host: dict[str, int] = field(default_factory=dict)


def measured(method: str, fn, on_lab: bool = True) -> Run:
    load = os.getloadavg()[0]
    busy0, total0 = _cpu_times()
    time.sleep(1.0)  # nothing of the bench runs now: what is busy is someone else's work
    busy1, total1 = _cpu_times()
    before = (busy1 - busy0) / max(1, total1 - total0)
    busy0, total0 = busy1, total1
    engine0, self0 = _engines_cpu(), _self_cpu()
    start = time.perf_counter()
    by_host = fn()
    seconds = time.perf_counter() - start
    engine1, self1 = _engines_cpu(), _self_cpu()
    busy1, total1 = _cpu_times()
    busy = (busy1 - busy0) / max(1, total1 - total0)
    engine = engine1 - engine0 if on_lab and engine0 is not None and engine1 is not None else None
    run = Run(method, seconds, load, busy, before, engine, self1 - self0, by_host)
    log(f"    {method}: {seconds:.2f} s  (load {load:.1f}, cpu busy {before:.0%} before, {busy:.0%} during; "
        f"cpu s: engines {'-' if engine is None else f'{engine:.1f}'}, this process {run.client_cpu:.1f}) "
        f"{by_host}")
    return run


# -- the app -----------------------------------------------------------------------------------

def app_spec():
    from paasops.spec import parse_app_spec

    return parse_app_spec({"name": APP, "image": HELLO_IMAGE, "command": COMMAND, "cpus": CPUS,
                           "memory": f"{MEMORY_MB}m", "labels": {BENCH_LABEL[0]: BENCH_LABEL[1]}},
                          source="bench app")


def cleanup(engines: list[EngineRef]) -> None:
    cleanup_label(engines, LABEL)


# -- (a) paasops -------------------------------------------------------------------------------

def plan_hosts(engines, pki_dir, state_dir, per_host, replicas) -> list[str]:
    """The host of each replica in paasops' plan (a dry run on a fresh service: empty engines)."""
    service = new_service(engines, pki_dir, state_dir, per_host, 0)
    try:
        return [a.host for a in service.apps.dry_run(app_spec(), replicas).plan]
    finally:
        service.stop()


def run_paasops(engines, pki_dir, state_dir, per_host, replicas, n) -> Run:
    service = new_service(engines, pki_dir, state_dir, per_host, n)
    spec = app_spec()
    try:
        def go():
            result = service.apps.deploy(spec, replicas)
            if not result.ok:
                bad = result.failed
                raise BenchError(f"paasops deploy: {len(bad)} replicas failed, e.g. {bad[0].error}")
            return dict(collections.Counter(r.host for r in result.replicas))
        run = measured("paasops", go)
    finally:
        service.stop()
    check_running(engines, replicas, "paasops")
    return run


def check_running(engines, replicas, method) -> None:
    counts = running_count(engines, LABEL)
    if sum(counts.values()) != replicas:
        raise BenchError(f"{method}: {sum(counts.values())} containers running after the run, "
                         f"expected {replicas}: {counts}")


# -- (b) the raw floor -------------------------------------------------------------------------

def run_floor(engines, hosts: list[str], workers: int, label: str = "floor") -> Run:
    from paasops.service.replicas import replica_labels
    from paasops.spec import docker_run_kwargs

    spec = app_spec()
    by_name = {e.name: e for e in engines}
    calls = [(by_name[h].client, docker_run_kwargs(spec, f"{spec.name}-{i}", replica_labels(spec, "floor", i)))
             for i, h in enumerate(hosts, start=1)]

    def go():
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda call: call[0].containers.run(**call[1]), calls))
        return dict(collections.Counter(hosts))
    run = measured(label, go)
    check_running(engines, len(hosts), label)
    return run


# -- (c) Docker Swarm --------------------------------------------------------------------------

class DeploySwarm(Swarm):
    """The swarm with the bench app as a service."""

    def run(self, replicas: int) -> Run:
        from docker.types import Resources, ServiceMode

        nano, mem = int(CPUS * 1e9), MEMORY_MB * 1024 * 1024
        node_names = {x.id: x.attrs["Description"]["Hostname"] for x in self.manager.nodes.list()}
        holder = {}

        def go():
            service = self.manager.services.create(
                HELLO_IMAGE, COMMAND, name=APP, mode=ServiceMode("replicated", replicas=replicas),
                resources=Resources(cpu_limit=nano, mem_limit=mem, cpu_reservation=nano, mem_reservation=mem),
                container_labels={BENCH_LABEL[0]: BENCH_LABEL[1]})
            holder["service"] = service
            deadline = time.monotonic() + RUN_TIMEOUT
            while True:
                tasks = service.tasks(filters={"desired-state": "running"})
                running = [t for t in tasks if t["Status"]["State"] == "running"]
                if len(running) >= replicas:
                    return dict(collections.Counter(node_names.get(t.get("NodeID"), "?") for t in running))
                failed = [t for t in service.tasks() if t["Status"]["State"] in ("failed", "rejected")]
                if time.monotonic() > deadline:
                    errors = {t["Status"].get("Err", "") for t in failed}
                    raise BenchError(f"swarm: {len(running)}/{replicas} tasks running after {RUN_TIMEOUT:.0f} s"
                                     + (f"; task errors: {sorted(errors)[:3]}" if errors else ""))
                time.sleep(0.2)
        try:
            run = measured("swarm", go, on_lab=self.on_lab_engines)
        finally:
            self.remove_service(holder.get("service"), APP)
        return run



# -- profile -----------------------------------------------------------------------------------

class Timer:
    """Wall time per step, summed over threads; wraps attributes of objects (this process only)."""

    def __init__(self):
        self.totals: dict[str, list[float]] = collections.defaultdict(list)
        self.lock = threading.Lock()
        self.undo = []

    def wrap(self, owner, attr: str, label: str) -> None:
        original = getattr(owner, attr)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                with self.lock:
                    self.totals[label].append(time.perf_counter() - start)
        setattr(owner, attr, timed)
        self.undo.append((owner, attr, original))

    def restore(self) -> None:
        for owner, attr, original in reversed(self.undo):
            setattr(owner, attr, original)


def profile_paasops(engines, pki_dir, state_dir, per_host, replicas) -> tuple[float, Timer, dict]:
    """One paasops deploy with each step of the deploy path timed (not part of the table)."""
    import threading as _threading

    import docker.api.container
    import docker.models.containers

    from paasops.service import deploy as deploy_mod
    from paasops.service.engine import EngineHandle
    from paasops.service.images import ImageDistributor
    from paasops.store.sqlite import SqliteStore

    service = new_service(engines, pki_dir, state_dir, per_host, 99)
    timer = Timer()
    # step timings (class level: all threads, incl. the event collectors' refresh calls)
    timer.wrap(deploy_mod, "plan", "plan (placement)")
    timer.wrap(ImageDistributor, "ensure", "images.ensure")
    timer.wrap(docker.api.container.ContainerApiMixin, "create_container", "docker create")
    timer.wrap(docker.api.container.ContainerApiMixin, "start", "docker start")
    timer.wrap(docker.models.containers.ContainerCollection, "get", "docker inspect (SDK run's get)")
    timer.wrap(EngineHandle, "refresh_container", "refresh_container (all threads)")
    timer.wrap(SqliteStore, "add_event", "store.add_event (all threads)")
    timer.wrap(deploy_mod.Deployer, "start_replica", "Deployer.start_replica (slot wait + work)")
    # time spent waiting for the per-host slot: the semaphore's acquire
    waits = []
    original_slot = deploy_mod.Deployer.slot

    def slot(self, host):
        sem = original_slot(self, host)

        class Timed:
            def __enter__(self_inner):
                start = time.perf_counter()
                sem.acquire()
                waits.append(time.perf_counter() - start)

            def __exit__(self_inner, *exc):
                sem.release()
        return Timed()
    deploy_mod.Deployer.slot = slot
    # concurrency actually reached on each engine (docker create..start in flight)
    inflight = collections.Counter()
    peak = collections.Counter()
    guard = _threading.Lock()
    original_run = docker.models.containers.ContainerCollection.run

    def run(self, *args, **kwargs):
        host = self.client.api.base_url
        with guard:
            inflight[host] += 1
            peak[host] = max(peak[host], inflight[host])
        try:
            return original_run(self, *args, **kwargs)
        finally:
            with guard:
                inflight[host] -= 1
    docker.models.containers.ContainerCollection.run = run
    try:
        start = time.perf_counter()
        result = service.apps.deploy(app_spec(), replicas)
        seconds = time.perf_counter() - start
        time.sleep(1.0)  # let the event collectors catch up (their refreshes are counted too)
    finally:
        docker.models.containers.ContainerCollection.run = original_run
        deploy_mod.Deployer.slot = original_slot
        timer.restore()
        service.stop()
    if not result.ok:
        raise BenchError("paasops deploy (profile run) failed")
    timer.totals["per-host slot wait"] = waits
    extra = {"peak in flight per engine": {k.split("//")[1].split(":")[0]: v for k, v in peak.items()}}
    return seconds, timer, extra


# -- report ------------------------------------------------------------------------------------

def stats(runs: list[Run]) -> tuple[float, float]:
    values = [r.seconds for r in runs]
    return statistics.median(values), min(values)


def _median_or_none(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _paired(a: list[Run], b: list[Run]) -> float:
    """Median of the ratios of runs made one after the other (same load, as far as it goes)."""
    return statistics.median(x.seconds / y.seconds for x, y in zip(a, b, strict=True))


def print_report(args, results: dict[str, list[Run]], swarm_where: str, swarm_note: str,
                 ncpu: int, split: dict[str, int], others: int, start_load: float) -> None:
    print()
    print(f"Deploy of {args.replicas} replicas ({HELLO_IMAGE}, {CPUS} CPU, {MEMORY_MB} MB, no ports), "
          f"per_host={args.per_host}, {args.runs} runs each; time until all replicas are running")
    print(f"paasops' plan (thesis 65/35 score, declared capacities): {split}; floor: the same split, "
          f"{args.per_host * 3} workers")
    print()
    print(f"{'method':<23} {'median s':>8} {'min s':>6}  {'runs (s)':<18} {'engines':>7} {'bench':>6} "
          f"{'busy before':>11} {'load':>9}")
    print(f"{'':<23} {'':>8} {'':>6}  {'':<18} {'cpu s':>7} {'cpu s':>6}")
    for name, runs in results.items():
        if not runs:
            continue
        med, low = stats(runs)
        loads = f"{min(r.load for r in runs):.1f}-{max(r.load for r in runs):.1f}"
        before = f"{statistics.mean(r.before for r in runs):.0%}"
        engine = _median_or_none([r.engine_cpu for r in runs])
        client = statistics.median(r.client_cpu for r in runs)
        print(f"{name:<23} {med:>8.2f} {low:>6.2f}  {' '.join(f'{r.seconds:.2f}' for r in runs):<18} "
              f"{'-' if engine is None else f'{engine:.1f}':>7} {client:>6.1f} {before:>11} {loads:>9}")
    print("(engines cpu s: CPU the 3 lab hosts used during a run - dockerd, containerd, runc, the replicas; "
          "bench cpu s: this process - for paasops the whole in-process service; medians)")
    print()
    p = results.get("paasops")
    floor = results.get("floor")
    swarm = results.get("swarm")
    if p and floor:
        (pm, pl), (fm, fl) = stats(p), stats(floor)
        ratio = pm / fm
        verdict = "ok" if ratio <= TARGET_FLOOR else "MISSED"
        print(f"paasops / floor   median {ratio:.2f}x   target <= {TARGET_FLOOR}x  {verdict}   "
              f"(min/min {pl / fl:.2f}x, run-by-run {_paired(p, floor):.2f}x)")
        pe, fe = _median_or_none([r.engine_cpu for r in p]), _median_or_none([r.engine_cpu for r in floor])
        if pe and fe:
            pc, fc = statistics.median(r.client_cpu for r in p), statistics.median(r.client_cpu for r in floor)
            print(f"  CPU: engines {pe / fe:.2f}x, engines + client {(pe + pc) / (fe + fc):.2f}x "
                  f"({pe + pc - fe - fc:+.1f} CPU s for the deploy)")
    p2 = results.get("paasops (swarm phase)")
    if (p2 or p) and swarm:
        (pm, pl), (sm, sl) = stats(p2 or p), stats(swarm)
        ratio = pm / sm
        verdict = "ok" if ratio < TARGET_SWARM else "MISSED"
        paired = f", run-by-run {_paired(p2, swarm):.2f}x" if p2 else ""
        print(f"paasops / swarm   median {ratio:.2f}x   target < {TARGET_SWARM:g}x     {verdict}   "
              f"(min/min {pl / sl:.2f}x{paired})")
        print(f"  swarm on {swarm_where}; paasops runs of the {'Swarm' if p2 else 'first'} phase"
              + (f" (first-phase paasops / swarm: {stats(p)[0] / sm:.2f}x)" if p and p2 else ""))
    if swarm_note:
        print(f"NOTE: {swarm_note}")
    all_runs = [r for runs in results.values() for r in runs]
    if all_runs:
        loads = [r.load for r in all_runs]
        before = statistics.mean(r.before for r in all_runs)
        facts = (f"{ncpu} CPUs for everything; 1-min load average {start_load:.1f} when the bench started, "
                 f"{min(loads):.1f}-{max(loads):.1f} at the runs (the bench's own containers count too); "
                 f"{before:.0%} of the CPUs busy with other work in the second before each run (mean); "
                 f"{others} other containers on this machine's dockerd")
        if start_load > ncpu or before > 0.25:
            print(f"NOTE: contention: {facts}. The 3 lab engines, their containers and the bench share these "
                  "CPUs, so absolute times are inflated and noisy; paasops and the floor alternate so their "
                  "ratio stays fair.")
        else:
            print(f"load: {facts}.")


def print_profile(seconds: float, timer: Timer, extra: dict) -> None:
    print()
    print(f"Profile of one paasops deploy ({seconds:.2f} s wall; sums are over all threads):")
    print(f"  {'step':<40} {'calls':>6} {'total s':>9} {'mean ms':>9}")
    for label, values in sorted(timer.totals.items(), key=lambda kv: -sum(kv[1])):
        if values:
            print(f"  {label:<40} {len(values):>6} {sum(values):>9.2f} {statistics.mean(values) * 1000:>9.1f}")
    for key, value in extra.items():
        print(f"  {key}: {value}")


# -- main --------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the paasops-swarm lab up at the end")
    parser.add_argument("--runs", type=int, default=3, help="runs per method (median and min shown)")
    parser.add_argument("--replicas", type=int, default=64)
    parser.add_argument("--per-host", type=int, default=4, help="paasops' per-engine concurrency (default 4)")
    parser.add_argument("--profile", action="store_true", help="one more paasops run with its steps timed")
    parser.add_argument("--skip-swarm", action="store_true")
    parser.add_argument("--workdir", type=Path, help="reuse a kept work dir (lab.ini, pki) of an earlier --keep")
    args = parser.parse_args()

    started = time.perf_counter()
    start_load = os.getloadavg()[0]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="paasops-bench-deploy-"))
    workdir.mkdir(parents=True, exist_ok=True)
    state_dir = workdir / "state"
    state_dir.mkdir(exist_ok=True)
    pki_dir = workdir / "pki"
    lab = Lab(name=LAB_NAME, inventory_path=workdir / "lab.ini", log=lambda m: log(f"lab: {m}"), pki_dir=pki_dir)
    results: dict[str, list[Run]] = {"paasops": [], "floor": [], "swarm": [],
                                     "paasops (swarm phase)": []}
    engines: list[EngineRef] = []
    swarm = None
    swarm_where, swarm_note = "", ""
    live_restore_off = False
    failed = False
    try:
        log(f"lab {LAB_NAME}: 3 hosts, bootstrap (not timed); work dir {workdir}")
        with own_etcd_peer_port(BENCH_ETCD_PEER_PORT):
            hosts = lab.up(3)
        bootstrap(lab, pki_dir)
        import docker
        local = docker.from_env()
        others = len([c for c in local.containers.list() if c.labels.get(LABEL_LAB) != LAB_NAME])
        for h in hosts:
            client = engine_client(h.address, pki_dir)
            ensure_hello_image(client)  # pre-loaded: no run measures an image transfer
            engines.append(EngineRef(h.name, h.address, h.container, h.cpus, h.memory_mb, client))
        ENGINE_CGROUPS[:] = engine_cgroups([local.containers.get(h.container).id for h in hosts])
        cleanup(engines)
        hosts_of = plan_hosts(engines, pki_dir, state_dir, args.per_host, args.replicas)
        split = dict(sorted(collections.Counter(hosts_of).items()))
        workers = args.per_host * len(engines)
        log(f"plan {split}; floor with {workers} workers")

        for n in range(args.runs):
            log(f"run {n + 1}/{args.runs}")
            results["paasops"].append(run_paasops(engines, pki_dir, state_dir, args.per_host, args.replicas, n + 1))
            cleanup(engines)
            results["floor"].append(run_floor(engines, hosts_of, workers, "floor"))
            cleanup(engines)

        profile = None
        if args.profile:
            log("profile run (paasops, steps timed)")
            profile = profile_paasops(engines, pki_dir, state_dir, args.per_host, args.replicas)
            cleanup(engines)

        if not args.skip_swarm:
            try:
                log("swarm on the lab engines")
                if engines[0].client.info().get("LiveRestoreEnabled"):
                    try:  # to quote Docker's own refusal
                        engines[0].client.swarm.init(advertise_addr=engines[0].address)
                        raise BenchError("swarm init accepted an engine with live-restore on")
                    except docker.errors.APIError as caught:
                        exc = caught
                    swarm_note = (f"Swarm refuses the bootstrapped engines: \"{exc.explanation}\" (bootstrap sets "
                                  "live-restore); for the Swarm runs the bench turned live-restore off on the 3 lab "
                                  "hosts and restarted their dockerd.")
                    log("live-restore off on the lab hosts (Swarm refuses it), restarting their dockerd")
                    set_live_restore(engines, False, pki_dir)
                    live_restore_off = True
                swarm = DeploySwarm.on_lab(engines)
                swarm_where = swarm.where
            except (docker.errors.APIError, BenchError) as exc:
                reason = getattr(exc, "explanation", None) or str(exc)
                log(f"a 3-node swarm on the lab engines failed: {reason}; falling back to this machine's dockerd")
                swarm_note += f" A 3-node Swarm on the lab engines failed ({reason}): FALLBACK to a single-node " \
                              "swarm on this machine's own dockerd (not the same engines as paasops)."
                if swarm is None:
                    for e in engines:
                        try:
                            e.client.swarm.leave(force=True)
                        except Exception:  # not in a swarm
                            pass
                swarm = DeploySwarm.on_this_machine()
                swarm_where = swarm.where
            log(f"swarm ready on {swarm_where}")
            for n in range(args.runs):
                log(f"swarm phase run {n + 1}/{args.runs}")
                results["swarm"].append(swarm.run(args.replicas))
                results["paasops (swarm phase)"].append(
                    run_paasops(engines, pki_dir, state_dir, args.per_host, args.replicas, 10 + n))
                cleanup(engines)

        print_report(args, results, swarm_where, swarm_note, os.cpu_count() or 1, split, others, start_load)
        if profile:
            print_profile(*profile)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        failed = True
    except Exception as exc:  # the lab, Docker or the service: still tear down, still exit 1
        import traceback

        traceback.print_exc()
        print(f"bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        failed = True
    finally:
        if swarm is not None:
            swarm.leave()
        if args.keep:
            try:
                if engines:
                    cleanup(engines)
                if live_restore_off:
                    set_live_restore(engines, True, pki_dir)  # back to the bootstrapped configuration
            except Exception as exc:  # keep going: report it
                log(f"restoring the lab: {exc}")
            log(f"lab {LAB_NAME} kept; work dir {workdir} (pass --workdir to reuse)")
        else:
            log(f"tearing down lab {LAB_NAME}")
            try:
                lab.down()
            except Exception as exc:
                log(f"lab down: {exc}")
                failed = True
            if not args.workdir:
                shutil.rmtree(workdir, ignore_errors=True)
        log(f"total {time.perf_counter() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
