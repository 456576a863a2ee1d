"""Shared by the benches against Docker Swarm: the 3-host bench lab, its engines, a swarm on them, a paasops service."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paasops.engines.client import make_client
from paasops.lab import Lab
from paasops.lab.hello_image import HELLO_IMAGE, ensure_hello_image
from paasops.vocabulary import DOCKER_TLS_PORT, UP, docker_url

LAB_NAME = "paasops-swarm"
COMMAND = ["httpd", "-f", "-p", "8080", "-h", "/www"]
CPUS, MEMORY_MB = 0.05, 16
BENCH_ETCD_PEER_PORT = 2390  # not etcd's default 2380: see own_etcd_peer_port


class BenchError(Exception):
    pass


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class EngineRef:
    name: str
    address: str
    container: str  # the lab host's container on this machine's dockerd
    cpus: float
    memory_mb: int
    client: object = None


def bootstrap(lab: Lab, pki_dir: Path) -> None:
    cmd = [sys.executable, "-m", "paasops", "bootstrap", "-i", str(lab.inventory_path), "lab", "-o", "json"]
    env = dict(os.environ, PAASOPS_PKI_DIR=str(pki_dir))
    done = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = None
    if done.returncode != 0 or report is None or report.get("failed_hosts"):
        raise BenchError(f"paasops bootstrap exited {done.returncode}:\n{done.stdout[-1500:]}\n"
                         f"{done.stderr[-1500:]}")


def engine_client(address: str, pki_dir: Path):
    client = make_client(address, DOCKER_TLS_PORT, pki_dir=pki_dir, timeout=120)
    client.ping()
    return client


def set_live_restore(engines: list[EngineRef], value: bool, pki_dir: Path) -> None:
    """Edit daemon.json inside each lab host and restart its dockerd (systemd in the lab host)."""
    import docker

    local = docker.from_env(timeout=120)
    script = ("import json; p='/etc/docker/daemon.json'; d=json.load(open(p)); "
              f"d['live-restore']={value!r}; json.dump(d, open(p, 'w'), indent=2)")
    for e in engines:
        code, out = local.containers.get(e.container).exec_run(
            ["sh", "-c", f"python3 -c \"{script}\" && systemctl restart docker"])
        if code != 0:
            raise BenchError(f"{e.name}: setting live-restore={value} failed: {out.decode(errors='replace')[-300:]}")
    for e in engines:
        deadline = time.monotonic() + 60
        while True:
            try:
                e.client = engine_client(e.address, pki_dir)
                if e.client.info().get("LiveRestoreEnabled") == value:
                    break
            except Exception:  # dockerd still restarting
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"{e.name}: dockerd did not come back with live-restore={value} within 60 s")
            time.sleep(0.5)


def cleanup(engines: list[EngineRef], label: str) -> None:
    """Remove every container labelled `label` (k=v) on every engine, and wait until none is left."""
    jobs = []
    for e in engines:
        for c in e.client.api.containers(all=True, filters={"label": label}):
            jobs.append((e, c["Id"]))
    if jobs:
        with ThreadPoolExecutor(12) as pool:
            list(pool.map(lambda j: _remove(j[0].client, j[1]), jobs))
    deadline = time.monotonic() + 120
    while any(e.client.api.containers(all=True, filters={"label": label}) for e in engines):
        if time.monotonic() > deadline:
            raise BenchError("bench containers are still there 120 s after their removal")
        time.sleep(0.5)


def _remove(client, container_id: str) -> None:
    try:
        client.api.remove_container(container_id, force=True)
    except Exception:  # gone already (a swarm agent removed it)
        pass


def running_count(engines: list[EngineRef], label: str) -> dict[str, int]:
    return {e.name: len(e.client.api.containers(filters={"label": label, "status": "running"})) for e in engines}


def new_service(engines: list[EngineRef], pki_dir: Path, state_dir: Path, per_host: int, n: int):
    """An in-process `Service` (SQLite state, no etcd) with the lab engines added by hand, up and warm."""
    from paasops.service.service import Service
    from paasops.service.settings import ServiceSettings
    from paasops.store.records import Engine

    for old in state_dir.glob(f"state-{n}.db*"):  # a fresh service each time (a reused --workdir too)
        old.unlink()
    settings = ServiceSettings(state=f"sqlite:///{state_dir}/state-{n}.db", pki_dir=pki_dir, etcd=[],
                               per_host=per_host, local_engine=False,
                               admin_password=secrets.token_urlsafe(16))  # no first-admin banner per run
    service = Service(settings)
    service.start()
    for e in engines:  # as POST /api/engines builds the record, with the lab's declared capacities
        service.cluster.add_engine(Engine(id=e.name, address=e.address, docker_url=docker_url(e.address),
                                          cpus=e.cpus, memory_mb=e.memory_mb, tls=True, source="manual"))
    deadline = time.monotonic() + 30
    while not all(h.status == UP for h in service.cluster.engines.values()):
        if time.monotonic() > deadline:
            raise BenchError(f"engines not up in the service: "
                             f"{ {h.id: h.status for h in service.cluster.engines.values()} }")
        time.sleep(0.1)
    for h in service.cluster.engines.values():  # warm: the image is known, the client connected
        if not h.has_image(HELLO_IMAGE):
            raise BenchError(f"{h.id}: the service does not see {HELLO_IMAGE}")
        h.client.ping()
    time.sleep(1.0)  # let the event streams connect (their initial sync) before timing
    return service


class Swarm:
    """A swarm (3 lab nodes, or this machine's dockerd alone); the benches create their own services on it."""

    def __init__(self, manager, workers: list, where: str, nodes: list[EngineRef], on_lab_engines: bool = True):
        self.manager, self.workers, self.where, self.nodes = manager, workers, where, nodes
        self.on_lab_engines = on_lab_engines

    @classmethod
    def on_lab(cls, engines: list[EngineRef]):
        lead = engines[0]
        lead.client.swarm.init(advertise_addr=lead.address, listen_addr="0.0.0.0:2377")
        token = lead.client.swarm.attrs["JoinTokens"]["Worker"]
        for e in engines[1:]:
            e.client.swarm.join(remote_addrs=[f"{lead.address}:2377"], join_token=token,
                                advertise_addr=e.address, listen_addr="0.0.0.0:2377")
        swarm = cls(lead.client, [e.client for e in engines[1:]], f"3 lab engines (manager {lead.name})", engines)
        swarm.wait_nodes(len(engines))
        return swarm

    @classmethod
    def on_this_machine(cls):
        import docker

        local = docker.from_env(timeout=120)
        state = local.info()["Swarm"]["LocalNodeState"]
        if state != "inactive":
            raise BenchError(f"this machine's dockerd is already in a swarm ({state}): not touching it")
        ensure_hello_image(local)
        local.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
        ref = EngineRef("local", "127.0.0.1", "", 0, 0, local)
        swarm = cls(local, [], "this machine's dockerd, single node (FALLBACK)", [ref], on_lab_engines=False)
        swarm.wait_nodes(1)
        return swarm

    def node_states(self) -> dict[str, str]:
        """Each node's hostname and state as the manager sees it (ready, down, unknown)."""
        return {x.attrs["Description"]["Hostname"]: x.attrs["Status"]["State"] for x in self.manager.nodes.list()}

    def wait_nodes(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            ready = [s for s in self.node_states().values() if s == "ready"]
            if len(ready) >= n:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"swarm: {len(ready)}/{n} nodes ready after {timeout:.0f} s")
            time.sleep(0.3)

    def remove_service(self, service, name: str) -> None:
        if service is not None:
            service.remove()
        deadline = time.monotonic() + 120
        while any(n.client.api.containers(all=True, filters={"label": "com.docker.swarm.service.name=" + name})
                  for n in self.nodes):
            if time.monotonic() > deadline:
                raise BenchError("swarm: the service's containers are still there 120 s after its removal")
            time.sleep(0.5)

    def leave(self) -> None:
        for client in self.workers + [self.manager]:
            try:
                client.swarm.leave(force=True)
            except Exception as exc:  # keep leaving on the other nodes
                log(f"swarm leave: {exc}")


@contextlib.contextmanager
def own_etcd_peer_port(port: int) -> Iterator[None]:
    """Start the lab's etcd with its (loopback) peer port at `port`: the test lab's etcd, often left running,
    holds the default 2380, and a second lab's etcd then exits at start."""
    from paasops.lab import etcd

    original = etcd.ensure_etcd
    etcd.ensure_etcd = functools.partial(original, peer_port=port)  # type: ignore[assignment]
    try:
        yield
    finally:
        etcd.ensure_etcd = original


class BenchLab:
    """The bench lab for one run: 3 bootstrapped TLS engines with the hello image, then a 3-node swarm on them.

    Swarm refuses engines with live-restore (which bootstrap sets): `swarm()` turns it off on the 3 hosts,
    and every method of the bench then runs under that same engine configuration. Leaving the `with`
    block leaves the swarm, and takes the lab down (or, with `keep`, puts live-restore back).
    """

    def __init__(self, label: str, *, keep: bool = False, workdir: Path | None = None, per_host: int = 4,
                 name: str = LAB_NAME, etcd_peer_port: int = BENCH_ETCD_PEER_PORT):
        self.label, self.keep, self.given_workdir, self.per_host = label, keep, workdir, per_host
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="paasops-bench-swarm-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state_dir = self.workdir / "state"
        self.state_dir.mkdir(exist_ok=True)
        self.pki_dir = self.workdir / "pki"
        self.etcd_peer_port = etcd_peer_port  # another bench lab (another name) needs a port of its own
        self.lab = Lab(name=name, inventory_path=self.workdir / "lab.ini", log=lambda m: log(f"lab: {m}"),
                       pki_dir=self.pki_dir)
        self.engines: list[EngineRef] = []
        self.swarm: Swarm | None = None
        self.live_restore_off = False
        self.services = 0

    def __enter__(self) -> BenchLab:
        log(f"lab {self.lab.name}: 3 hosts, bootstrap (not timed); work dir {self.workdir}")
        try:
            with own_etcd_peer_port(self.etcd_peer_port):
                hosts = self.lab.up(3)
            bootstrap(self.lab, self.pki_dir)
            for h in hosts:
                client = engine_client(h.address, self.pki_dir)
                ensure_hello_image(client)  # pre-loaded: no run measures an image transfer
                self.engines.append(EngineRef(h.name, h.address, h.container, h.cpus, h.memory_mb, client))
            self.clean()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def engine(self, name: str) -> EngineRef:
        return next(e for e in self.engines if e.name == name)

    def clean(self) -> None:
        cleanup(self.engines, self.label)

    def make_swarm(self) -> Swarm:
        """A 3-node swarm on the lab engines (live-restore turned off first); never a fallback here."""
        if self.engines[0].client.info().get("LiveRestoreEnabled"):
            log("live-restore off on the lab hosts (Swarm refuses it), restarting their dockerd")
            self.live_restore_off = True
            set_live_restore(self.engines, False, self.pki_dir)
        for e in self.engines:  # a swarm left by an earlier run that was killed
            if e.client.info()["Swarm"]["LocalNodeState"] != "inactive":
                e.client.swarm.leave(force=True)
        self.swarm = Swarm.on_lab(self.engines)
        log(f"swarm ready on {self.swarm.where}")
        return self.swarm

    def service(self):
        """A fresh in-process paasops service on the 3 engines."""
        self.services += 1
        return new_service(self.engines, self.pki_dir, self.state_dir, self.per_host, self.services)

    def docker_cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """The docker command line against the swarm manager's engine over its TLS API."""
        lead = self.engines[0]
        cmd = ["docker", "--tlsverify", f"--tlscacert={self.pki_dir / 'ca.pem'}",
               f"--tlscert={self.pki_dir / 'client-cert.pem'}", f"--tlskey={self.pki_dir / 'client-key.pem'}",
               "-H", f"tcp://{lead.address}:{DOCKER_TLS_PORT}", *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise BenchError(f"`docker {' '.join(args[:3])} ...` exited {done.returncode}: {done.stderr[-600:]}")
        return done

    def __exit__(self, *exc) -> None:
        if self.swarm is not None:
            self.swarm.leave()
        if self.keep:
            try:
                if self.engines:
                    self.clean()
                if self.live_restore_off:
                    set_live_restore(self.engines, True, self.pki_dir)  # back to the bootstrapped configuration
            except Exception as error:  # keep going: report it
                log(f"restoring the lab: {error}")
            log(f"lab {self.lab.name} kept; work dir {self.workdir} (pass --workdir to reuse)")
            return
        log(f"tearing down lab {self.lab.name}")
        try:
            self.lab.down()
        except Exception as error:
            log(f"lab down: {error}")
        if not self.given_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def lab_arguments(doc: str) -> argparse.ArgumentParser:
    """The command line every bench on the swarm lab takes; a bench adds its own."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="runs per method, alternating (median shown)")
    parser.add_argument("--keep", action="store_true", help=f"leave the {LAB_NAME} lab up at the end")
    parser.add_argument("--workdir", type=Path, help="reuse a kept work dir (lab.ini, pki) of an earlier --keep")
    parser.add_argument("--skip-swarm", action="store_true")
    return parser


def run_rounds(args: argparse.Namespace, label: str, one_round: Callable[[BenchLab], None],
               report: Callable[[], None]) -> int:
    """`one_round` `args.runs` times on the bench lab with its swarm; the report, even after a failure; exit code."""
    started = time.perf_counter()

    def body() -> None:
        with BenchLab(label, keep=args.keep, workdir=args.workdir) as lab:
            lab.make_swarm()
            for n in range(args.runs):
                log(f"run {n + 1}/{args.runs}")
                one_round(lab)
    ok = ran(body)
    report()
    log(f"total {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


def ran(body: Callable[[], None]) -> bool:
    """Run a bench's body; say why it failed (a traceback for the unexpected) and return False, else True."""
    try:
        body()
        return True
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
    except Exception as exc:  # the lab, Docker or the service: BenchLab tears down, the caller still reports
        import traceback

        traceback.print_exc()
        print(f"bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    return False
