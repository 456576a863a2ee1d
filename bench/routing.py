"""Benchmark: requests through the edge (HAProxy) versus straight to a replica, and route convergence.

Both parts run side by side in one run, with the same client: paasops/lab/http_load.py (stdlib http.client,
keep-alive connections, one per worker thread), always bounded and self-stopping, and sending only to
loopback or to the lab hosts the bench made.

Throughput (closed loop, `--workers` x `--seconds`, `--rounds` rounds, the paths' order rotated each round):
requests/s and p50/p99 latency of GET /id (a page naming the replica: the app runs
`sh -c 'echo $HOSTNAME > /www/id; exec httpd -f -p 8080 -h /www'` from paasops/hello:latest) through the edge
(HAProxy, Host: bench.example.test) versus straight to the replica's published port. busybox httpd closes
every connection, so "direct" opens a new connection per request; "edge" keeps its connections to HAProxy
alive (as browsers do), and "edge, close" opens a new one per request as direct does (the like-for-like).
Target: edge >= 0.8x the direct requests/s, p99 added <= 2 ms.

  --haproxy-only  on this machine alone: one hello container on the local dockerd (direct: its docker bridge
                  address, not a port published through docker-proxy) and a plain Debian HAProxy on loopback in
                  front of it, with a generated minimal config
                  (`haproxy -db -f`, stopped at the end). No lab, no paasops service, no convergence part.
  (default)       on a bench lab as bench/swarm_lab.py makes it (`paasops-routing`: 3 hosts, its own etcd and
                  CA in a work dir), bootstrapped (HAProxy on every edge host), `paasops serve` with that etcd, the app
                  deployed with `paasops deploy app.yml` (expose: {port: 8080, hostnames: [bench.example.test]})
                  at 1 replica for the throughput part (direct: its host's published port; edge: port 80 of
                  the first lab host).

Convergence (lab only; `--rounds` trials each way) under an open-loop load of 200 requests/s through the edge,
the app at 2 replicas (cpus 1 each, no health check: a replica is ready once running):
  steady  10 s with no change: the failures the load meets without any route change (the baseline).
  up      scale 2 -> 3 through the API (what `paasops scale` calls); from the new replica's start (the engine's
          State.StartedAt: the lab hosts share this machine's clock; dockerd records it once containerd's start
          returned, late under load) to the arrival of the first answer naming it via the edge; and, an upper
          bound, from the scale call.
  down    scale 3 -> 2; from the scale call (the service publishes the leaving replica as drain, then stops it)
          to the arrival of the last answer naming it through the edge.
The failed requests of every trial are printed with their reasons and windows.
Target: <= 1 s each way.

    .venv/bin/python bench/routing.py --haproxy-only [--rounds 3] [--workers 8] [--seconds 10]
    .venv/bin/python bench/routing.py [--rounds 3] [--keep] [--workdir DIR]

Exit 0 when everything ran (a missed target prints MISSED), 1 when something failed to run.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from swarm_lab import ROOT, BenchError, BenchLab, log, ran

from paasops.lab.hello_image import HELLO_IMAGE, ensure_hello_image
from paasops.lab.http_load import HttpLoad, LoadReport

APP = "routebench"
HOSTNAME = "bench.example.test"
LABEL = ("bench", "routing")
COMMAND = ["sh", "-c", "echo $HOSTNAME > /www/id; exec httpd -f -p 8080 -h /www"]
LAB_NAME = "paasops-routing"  # a bench lab of its own: the swarm benches may run theirs meanwhile
ETCD_PEER_PORT = 2391  # neither etcd's default (the test lab) nor the swarm benches' 2390
TARGET_RATIO, TARGET_P99_ADDED_MS, TARGET_CONVERGENCE_S = 0.8, 2.0, 1.0
CONVERGENCE_RATE = 200
POLL_S = 0.05


# -- the throughput comparison ------------------------------------------------------------------------------

@dataclass
class Round:
    path: str  # direct | edge
    report: LoadReport
    client_cpu: float  # CPU seconds of this process (the client) during the round
    proxy_cpu: float | None  # and of the local HAProxy (--haproxy-only)
    load: float  # the 1-min load average when it started (other work on the machine)


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _proc_cpu(pid: int | None) -> float | None:
    """CPU seconds of a local process and its threads, from /proc (None when unknown)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


PATHS = ("direct", "edge", "edge, close")  # the last: a new client connection per request, as direct gets


def one_round(path: str, url: str, host: str | None, args, proxy_pid: int | None) -> Round:
    time.sleep(0.5)  # what the previous round left (sockets in TIME_WAIT, forks) settles
    cpu0, proxy0, load = _self_cpu(), _proc_cpu(proxy_pid), os.getloadavg()[0]
    report = HttpLoad(url, duration=args.seconds, concurrency=args.workers, host=host, timeout=5,
                      keep_alive=path != "edge, close").run()
    proxy1 = _proc_cpu(proxy_pid)
    proxy = proxy1 - proxy0 if path != "direct" and proxy0 is not None and proxy1 is not None else None
    r = Round(path, report, _self_cpu() - cpu0, proxy, load)
    log(f"    {path:<11} {report.requests_per_s:7.0f} req/s  p50 {report.p50_ms:5.2f} ms  p99 {report.p99_ms:6.2f} ms"
        f"  {report.failed} failed; cpu s: client {r.client_cpu:.1f}"
        + (f", haproxy {proxy:.1f}" if proxy is not None else "") + f"; load {load:.1f}  {report.per_replica()}")
    if report.ok == 0:
        raise BenchError(f"{path}: no request succeeded ({report.failures[:3]})")
    return r


def compare(direct_url: str, edge_url: str, host: str, args, proxy_pid: int | None = None) -> list[Round]:
    """`args.rounds` rounds of the three paths, the order rotated each round so drift hits them alike."""
    rounds: list[Round] = []
    for n in range(args.rounds):
        log(f"throughput round {n + 1}/{args.rounds}")
        for path in PATHS[n % 3:] + PATHS[:n % 3]:
            url, header = (direct_url, None) if path == "direct" else (edge_url, host)
            rounds.append(one_round(path, url, header, args, proxy_pid))
    return rounds


def print_throughput(rounds: list[Round], where: str, args) -> None:
    print()
    print(f"Throughput: GET /id, closed loop, {args.workers} workers x {args.seconds:g} s, {args.rounds} rounds, "
          f"order rotated; {where}")
    print(f"{'path':<12} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>8} {'failed':>6}  "
          f"{'rounds (req/s)':<18} {'client µs/req':>13} {'haproxy µs/req':>14}")
    med: dict[str, dict[str, float]] = {}
    for path in PATHS:
        rs = [r for r in rounds if r.path == path]
        if not rs:
            continue
        m = {k: statistics.median(getattr(r.report, k) for r in rs)
             for k in ("requests_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms")}
        med[path] = m
        proxy = [r.proxy_cpu / r.report.total * 1e6 for r in rs if r.proxy_cpu is not None and r.report.total]
        print(f"{path:<12} {m['requests_per_s']:>7.0f} {m['p50_ms']:>7.2f} {m['p90_ms']:>7.2f} {m['p99_ms']:>7.2f} "
              f"{m['max_ms']:>8.2f} {sum(r.report.failed for r in rs):>6}  "
              f"{' '.join(f'{r.report.requests_per_s:.0f}' for r in rs):<18} "
              f"{statistics.median(r.client_cpu / max(1, r.report.total) * 1e6 for r in rs):>13.0f} "
              f"{(f'{statistics.median(proxy):.0f}' if proxy else '-'):>14}")
    direct = [r for r in rounds if r.path == "direct"]
    for path in PATHS[1:]:
        edge = [r for r in rounds if r.path == path]
        if not direct or not edge:
            continue
        # paired by round (the rounds of one round ran back to back): outside load drifts between rounds
        pairs = list(zip(direct, edge, strict=False))
        ratio = statistics.median(b.report.requests_per_s / a.report.requests_per_s for a, b in pairs)
        added = statistics.median(b.report.p99_ms - a.report.p99_ms for a, b in pairs)
        added50 = statistics.median(b.report.p50_ms - a.report.p50_ms for a, b in pairs)
        of_medians = med[path]["requests_per_s"] / med["direct"]["requests_per_s"]
        verdicts = ("ok" if ratio >= TARGET_RATIO else "MISSED", "ok" if added <= TARGET_P99_ADDED_MS else "MISSED")
        print(f"{path + ' / direct':<20} req/s {ratio:.2f}x (of the medians {of_medians:.2f}x) target >= "
              f"{TARGET_RATIO}x {verdicts[0]};  p99 added {added:+.2f} ms (p50 {added50:+.2f}) "
              f"target <= {TARGET_P99_ADDED_MS:g} ms {verdicts[1]}")
    print("(ratios and added latency: medians over the rounds of edge vs direct in the same round; µs/req: CPU time "
          "of the client process and of the local HAProxy per request)")
    loads = [r.load for r in rounds]
    print(f"machine: {os.cpu_count()} CPUs shared by the client, the proxy, the replica and other work; "
          f"1-min load average {min(loads):.1f}-{max(loads):.1f} at the rounds")


# -- --haproxy-only: a hello container and HAProxy on this machine ------------------------------------------

def haproxy_config(listen: tuple[str, int], hostname: str, servers: list[tuple[str, int]]) -> str:
    """A minimal HAProxy config: one HTTP frontend routing `hostname` to a round-robin backend."""
    lines = ["global", "    maxconn 4096", "",
             "defaults", "    mode http", "    timeout connect 2s", "    timeout client 30s",
             "    timeout server 30s", "    timeout http-keep-alive 10s", "",
             "frontend http", f"    bind {listen[0]}:{listen[1]}", f"    acl bench hdr(host) -i {hostname}",
             "    use_backend app_bench if bench", "",
             "backend app_bench", "    balance roundrobin"]
    lines += [f"    server s{n} {address}:{port}" for n, (address, port) in enumerate(servers, start=1)]
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def wait_answer(url: str, host: str | None, timeout: float = 20) -> str:
    """The first line of a 2xx answer from `url`, polling until there is one."""
    deadline = time.monotonic() + timeout
    while True:
        report = HttpLoad(url, duration=0.2, concurrency=1, host=host, timeout=1).run()
        if report.ok:
            return next(iter(report.replicas), "")
        if time.monotonic() > deadline:
            raise BenchError(f"{url} did not answer within {timeout:.0f} s: {report.failures[-1:]}")
        time.sleep(0.2)


class LocalHaproxy:
    """HAProxy in the foreground (`-db`) on a generated config; stopped by its pid."""

    def __init__(self, config: str, workdir: Path):
        if shutil.which("haproxy") is None:
            raise BenchError("haproxy is not installed (bin/setup-machine installs it: apt-get install haproxy)")
        self.path = workdir / "haproxy.cfg"
        self.path.write_text(config)
        check = subprocess.run(["haproxy", "-c", "-q", "-f", str(self.path)], capture_output=True, text=True)
        if check.returncode != 0:
            raise BenchError(f"haproxy refused the config: {check.stderr[-500:]}")
        self.process = subprocess.Popen(["haproxy", "-db", "-f", str(self.path)], stdout=subprocess.DEVNULL,
                                        stderr=(workdir / "haproxy.log").open("w"))

    def version(self) -> str:
        out = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout
        return out.splitlines()[0] if out else "haproxy"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def run_haproxy_only(args) -> int:
    import docker

    workdir = Path(tempfile.mkdtemp(prefix="paasops-bench-routing-"))
    rounds: list[Round] = []
    where = ""

    def body() -> None:
        nonlocal where
        client = docker.from_env(timeout=60)
        ensure_hello_image(client)
        for old in client.containers.list(all=True, filters={"label": f"{LABEL[0]}={LABEL[1]}"}):
            old.remove(force=True)  # what a killed earlier run left
        container = client.containers.run(HELLO_IMAGE, COMMAND, detach=True, name=f"{APP}-1",
                                          labels={LABEL[0]: LABEL[1]})
        proxy = None
        try:
            container.reload()
            # its address on the docker bridge: a port published on loopback would add docker-proxy's copy
            address = container.attrs["NetworkSettings"]["IPAddress"]
            direct = f"http://{address}:8080/id"
            replica = wait_answer(direct, None)
            listen = ("127.0.0.1", free_port())
            proxy = LocalHaproxy(haproxy_config(listen, HOSTNAME, [(address, 8080)]), workdir)
            edge = f"http://{listen[0]}:{listen[1]}/id"
            if wait_answer(edge, HOSTNAME) != replica:
                raise BenchError("the local HAProxy answers with another replica than the container")
            where = (f"this machine alone: {proxy.version()} on loopback (generated minimal config, default "
                     f"threads) in front of one hello container ({replica}) at its bridge address {address}; "
                     f"busybox httpd closes each connection, so direct = a new connection per request, "
                     f"edge = keep-alive to HAProxy and a new server connection per request")
            log(f"direct {direct}, edge {edge} (Host: {HOSTNAME}); replica {replica}")
            rounds.extend(compare(direct, edge, HOSTNAME, args, proxy.process.pid))
        finally:
            if proxy is not None:
                proxy.stop()
            container.remove(force=True)
    ok = ran(body)
    if rounds:
        print_throughput(rounds, where, args)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


# -- the lab: paasops serve, the CLI, edges on the lab hosts ----------------------------------------------

def has_expose() -> bool:
    """Whether this paasops knows app.yml's `expose:` (the routing feature)."""
    from paasops.spec import AppSpec

    return "expose" in AppSpec.model_fields


def app_yml() -> str:
    return (f"name: {APP}\nimage: {HELLO_IMAGE}\ncommand: {COMMAND!r}\ncpus: 1\nmemory: 16m\n"
            f"labels: {{{LABEL[0]}: {LABEL[1]}}}\n"
            f"expose: {{port: 8080, hostnames: [{HOSTNAME}]}}\n")


class RoutingLab:
    """A bench lab as bench/swarm_lab.py makes it, named `paasops-routing` (3 bootstrapped hosts, their edges
    included, the hello image loaded), `paasops serve` on its etcd, and a logged-in CLI."""

    def __init__(self, args):
        self.bench = BenchLab(f"{LABEL[0]}={LABEL[1]}", keep=args.keep, workdir=args.workdir, name=LAB_NAME,
                              etcd_peer_port=ETCD_PEER_PORT)
        self.workdir, self.pki_dir = self.bench.workdir, self.bench.pki_dir
        self.server = f"http://127.0.0.1:{args.serve_port}"
        self.port = args.serve_port
        self.env = dict(os.environ, PAASOPS_PKI_DIR=str(self.pki_dir), PAASOPS_SERVER=self.server,
                        XDG_CONFIG_HOME=str(self.workdir / "config"))
        self.serve: subprocess.Popen | None = None
        self.api = None

    def cli(self, *args: str, stdin: str | None = None, timeout: float = 300) -> str:
        done = subprocess.run([sys.executable, "-m", "paasops", *args], cwd=ROOT, env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise BenchError(f"`paasops {' '.join(args)}` exited {done.returncode}: {done.stderr[-800:]}")
        return done.stdout

    def __enter__(self) -> RoutingLab:
        from paasops.client import ApiClient

        self.bench.__enter__()
        try:
            password = secrets.token_urlsafe(18)
            for old in self.workdir.glob("state.db*"):  # a fresh service (its admin password) with a reused --workdir
                old.unlink()
            log(f"paasops serve on {self.server}")
            self.serve = subprocess.Popen(
                [sys.executable, "-m", "paasops", "serve", "--port", str(self.port), "--etcd",
                 str(self.bench.lab.etcd_endpoint()), "--pki-dir", str(self.pki_dir),
                 "--state", f"sqlite:///{self.workdir}/state.db"], cwd=ROOT,
                env=dict(self.env, PAASOPS_ADMIN_PASSWORD=password, PAASOPS_IMAGE_COPY_FROM_LOCAL="1"),
                stdout=subprocess.DEVNULL, stderr=(self.workdir / "serve.log").open("w"), start_new_session=True)
            deadline = time.monotonic() + 60
            while not _listening("127.0.0.1", self.port):
                if time.monotonic() > deadline or self.serve.poll() is not None:
                    raise BenchError(f"paasops serve did not start; see {self.workdir}/serve.log")
                time.sleep(0.3)
            self.cli("login", "-u", "admin", "--password-stdin", stdin=password + "\n", timeout=30)
            token = (self.workdir / "config" / "paasops" / "token").read_text().strip()
            self.api = ApiClient(self.server, token=token, timeout=60)
            self.wait(lambda: sum(e.status == "up" for e in self.api.engines()) == 3, 60, "3 engines up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def wait(self, check, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise BenchError(f"not {what} after {timeout:.0f} s")
            time.sleep(0.2)

    def ready(self) -> dict[str, str]:
        """The app's ready replicas: {12-char id (the page's first line): engine}."""
        return {c.id[:12]: c.engine for c in self.api.containers(app=APP) if c.ready}

    def __exit__(self, *exc) -> None:
        try:
            if self.api is not None:
                self.api.delete_app(APP)
        except Exception as error:  # not deployed
            log(f"delete {APP}: {error}")
        if self.serve is not None and self.serve.poll() is None:
            self.serve.terminate()
            try:
                self.serve.wait(20)
            except subprocess.TimeoutExpired:
                self.serve.kill()
        self.bench.__exit__(*exc)


@dataclass
class Trial:
    way: str  # steady | up | down
    replica: str
    seconds: float | None  # None: never converged within the trial (steady: not timed)
    report: LoadReport
    note: str = ""


def edge_load(edge_url: str, seconds: float = 30) -> tuple[HttpLoad, float]:
    """The load through the edge, started; and the wall-clock time of its offset 0."""
    load = HttpLoad(edge_url, duration=seconds, rate=CONVERGENCE_RATE, host=HOSTNAME, timeout=5).start()
    return load, time.time() - (time.monotonic() - load.started_at)


def started_at(lab: RoutingLab, replica: str) -> float:
    """When the engine started the container (wall clock: the lab hosts share this machine's kernel clock)."""
    text = lab.api.container(replica).inspect["State"]["StartedAt"]  # 2026-12-04T03:28:52.123456789Z
    stamp, _, fraction = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp() + float(f"0.{fraction or 0}")


def trial_steady(lab: RoutingLab, edge_url: str) -> Trial:
    """The same load with no change: what fails without any route change (the baseline of the trials)."""
    load, _ = edge_load(edge_url, 10)
    load.wait()
    return Trial("steady", "-", None, load.report(), f"{len(lab.ready())} replicas")


def trial_up(lab: RoutingLab, edge_url: str, count: int) -> Trial:
    """Scale up by one; from the new replica's start (no health check: ready when running) to its first answer."""
    before = set(lab.ready())
    load, wall0 = edge_load(edge_url)
    try:
        time.sleep(1.0)
        t_call = time.monotonic()
        lab.api.scale_app(APP, count + 1)
        deadline = time.monotonic() + 20
        while not (new := set(lab.ready()) - before):
            if time.monotonic() > deadline:
                raise BenchError(f"scale up to {count + 1}: no new replica ready within 20 s")
            time.sleep(POLL_S)
        replica = new.pop()
        deadline = time.monotonic() + 10
        while replica not in load.report().replicas and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
    finally:
        load.stop()
    report = load.report()
    seen = report.replicas.get(replica)
    ready = started_at(lab, replica)
    seconds = wall0 + seen.first_done - ready if seen else None
    call = load.started_at + seen.first_done - t_call if seen else None
    return Trial("up", replica, seconds, report, f"started {ready - wall0 - (t_call - load.started_at):.2f} s after "
                 f"the scale call; first answer {call:.2f} s after the call (an upper bound: create + start + route)"
                 if call is not None else "never answered through the edge")


def trial_down(lab: RoutingLab, edge_url: str, count: int) -> Trial:
    """Scale down by one; from the scale call (drain first, then stop) to the last answer naming the one removed."""
    before = lab.ready()
    load, _ = edge_load(edge_url)
    try:
        time.sleep(1.0)
        t_call = time.monotonic()
        lab.api.scale_app(APP, count - 1)
        returned = time.monotonic() - t_call
        deadline = time.monotonic() + 20
        while not (gone := set(before) - set(lab.ready())):
            if time.monotonic() > deadline:
                raise BenchError(f"scale down to {count - 1}: no replica left within 20 s")
            time.sleep(POLL_S)
        time.sleep(2.0)
    finally:
        load.stop()
    replica = gone.pop()
    report = load.report()
    seen = report.replicas.get(replica)
    seconds = load.started_at + seen.last_done - t_call if seen else None
    return Trial("down", replica, seconds, report, f"the scale call returned after {returned:.2f} s")


def print_trials(trials: list[Trial]) -> None:
    print()
    print(f"Route convergence through the edge, open loop {CONVERGENCE_RATE} req/s (resolution ~ replicas / "
          f"{CONVERGENCE_RATE} s); up: from the new replica's start to its first answer's arrival; down: from the "
          f"scale call to the arrival of the last answer naming the replica removed; "
          f"target <= {TARGET_CONVERGENCE_S:g} s")
    for t in trials:
        r = t.report
        shown = "-" if t.way == "steady" else "never" if t.seconds is None else f"{t.seconds:.2f} s"
        reasons: dict[str, int] = {}
        for _, reason in r.failures:
            reasons[reason] = reasons.get(reason, 0) + 1
        print(f"  {t.way:<6} {t.replica:<12} {shown:>8}  {r.total} requests, {r.failed} failed {reasons or ''} "
              f"p99 {r.p99_ms:.1f} ms, max {r.max_ms:.0f} ms; {t.note}; {r.per_replica()}")
        for w in r.windows:
            print(f"         failed {w.first:.2f}-{w.last:.2f} s into the load: {w.count}")
    for way in ("up", "down"):
        values = [t.seconds for t in trials if t.way == way]
        known = [v for v in values if v is not None]
        if values:
            worst = max(known) if len(known) == len(values) else None
            verdict = "ok" if worst is not None and worst <= TARGET_CONVERGENCE_S else "MISSED"
            print(f"{way:<5} median {statistics.median(known) if known else float('nan'):.2f} s, worst "
                  f"{'never' if worst is None else f'{worst:.2f} s'}   target <= {TARGET_CONVERGENCE_S:g} s  {verdict}")
    failed = {way: sum(t.report.failed for t in trials if t.way == way) for way in ("steady", "up", "down")}
    print(f"failed requests: {failed} (of {sum(t.report.total for t in trials)})")


def run_lab(args) -> int:
    if not has_expose():
        print("bench failed: this paasops has no `expose:` in app.yml (routing is not merged here); "
              "--haproxy-only measures HAProxy against a replica on this machine", file=sys.stderr)
        return 1
    rounds: list[Round] = []
    trials: list[Trial] = []
    where = ""

    def body() -> None:
        nonlocal where
        with RoutingLab(args) as lab:
            spec = lab.workdir / "app.yml"
            spec.write_text(app_yml())
            lab.cli("deploy", str(spec), "--count", "1")
            lab.wait(lambda: len(lab.ready()) == 1, 60, "1 replica ready")
            engines = {e.id: e.address for e in lab.api.engines()}
            edge_host = sorted(engines)[0]
            edge = f"http://{engines[edge_host]}:80/id"
            (replica, engine), = lab.ready().items()
            info = next(c for c in lab.api.containers(app=APP) if c.id.startswith(replica))
            port = next(p.host_port for p in info.ports if p.container == 8080 and p.host_port)
            direct = f"http://{engines[engine]}:{port}/id"
            if wait_answer(edge, HOSTNAME, 30) != replica:
                raise BenchError(f"the edge on {edge_host} does not answer with {replica}")
            where = (f"lab {LAB_NAME} (3 hosts on this machine's dockerd), edge = HAProxy on {edge_host} port 80, "
                     f"direct = the replica's published port on {engine}; client on this machine")
            rounds.extend(compare(direct, edge, HOSTNAME, args))
            lab.api.scale_app(APP, 2)  # the trials go 2 -> 3 -> 2: the edge balances between replicas throughout
            lab.wait(lambda: len(lab.ready()) == 2, 60, "2 replicas ready")
            wait_answer(edge, HOSTNAME, 30)
            for n in range(args.rounds):
                log(f"convergence trial {n + 1}/{args.rounds}")
                for trial in (trial_steady(lab, edge), trial_up(lab, edge, 2), trial_down(lab, edge, 3)):
                    trials.append(trial)
                    log(f"    {trial.way} {trial.replica} {trial.seconds}: {trial.report.summary()}")
    ok = ran(body)
    if rounds:
        print_throughput(rounds, where, args)
    if trials:
        print_trials(trials)
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--haproxy-only", action="store_true", help="HAProxy on loopback, no lab (see above)")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds per path; convergence trials")
    parser.add_argument("--workers", type=int, default=8, help="closed-loop workers, the same for every path "
                        "(8: busybox httpd listens with a backlog of 9; at 16 concurrent connects SYNs overflow it "
                        "and wait 1 s for a retransmit)")
    parser.add_argument("--seconds", type=float, default=10.0, help="each throughput round's length")
    parser.add_argument("--serve-port", type=int, default=5092, help="the lab's paasops serve port (loopback)")
    parser.add_argument("--keep", action="store_true", help=f"leave the {LAB_NAME} lab up at the end")
    parser.add_argument("--workdir", type=Path, help="reuse a kept work dir (lab.ini, pki) of an earlier --keep")
    args = parser.parse_args()
    started = time.perf_counter()
    code = run_haproxy_only(args) if args.haproxy_only else run_lab(args)
    log(f"total {time.perf_counter() - started:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
