"""Benchmark: wall time of `paasops bootstrap` on fresh lab hosts (1 alone, 3 in one run, the
idempotent re-run), and the same bootstrap with `ansible-playbook` (bench/ansible/bootstrap.yml).

Runs on its own lab, `paasops-bench`, so other labs (`paasops-lab`, `paasops-test`) are never
touched, and takes it down at the end (`--keep` keeps it). "Fresh" = `lab down` + `lab up N`
before a measurement, not counted. Takes about 3.5 minutes on an idle machine (longer under
load), most of it apt inside the lab hosts.

    .venv/bin/python bench/bootstrap.py [--keep] [--repeat N] [--ansible-repeat N] [--skip-ansible]

Exit status: 0 when everything ran (a missed target is printed as MISSED, not an error),
1 when a bootstrap or the lab failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paasops import pki
from paasops.lab import Lab, LabHost
from paasops.lab.image import LAB_USER

LAB_NAME = "paasops-bench"
ANSIBLE_DIR = ROOT / "bench" / "ansible"
ANSIBLE_PLAYBOOK = ANSIBLE_DIR / "bootstrap.yml"
VENV_BIN = Path(sys.executable).parent
TARGET_SCALING = 1.5  # 3 hosts in one run / 1 host alone
TARGET_IDEMPOTENT_S = 5.0
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
                        r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)", re.MULTILINE)


class BenchError(Exception):
    pass


@dataclass
class Run:
    """One timed bootstrap run."""

    tool: str
    what: str
    seconds: float
    changed: dict[str, int]
    started_at: float = 0.0  # time.time() at the start
    # per host, read by apt_stats after the run
    dpkg_s: dict[str, float] = field(default_factory=dict)  # dpkg of the docker.io install
    other_dpkg_s: dict[str, float] = field(default_factory=dict)  # dpkg of other installs
    download_s: dict[str, float] = field(default_factory=dict)  # its .debs' download (lower bound)
    download_mb: dict[str, float] = field(default_factory=dict)
    others: float | None = None  # share of the machine's CPU used by work not ours during the run
    lab_cpu: float | None = None  # CPU seconds used inside the lab hosts during the run

    @property
    def total_changed(self) -> int:
        return sum(self.changed.values())


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the lab ---------------------------------------------------------------------------------

def fresh_hosts(lab: Lab, count: int) -> list[LabHost]:
    """Throw the bench lab away and bring up `count` new hosts (not counted in any figure)."""
    start = time.perf_counter()
    lab.down()
    hosts = lab.up(count, [(2.0, 2048)])
    if len(hosts) != count or not all(h.ssh for h in hosts):
        raise BenchError(f"lab up {count}: got {[(h.name, h.state, h.ssh) for h in hosts]}")
    log(f"fresh lab of {count} host(s) in {time.perf_counter() - start:.1f}s (not counted)")
    return hosts


def apt_stats(run: Run, hosts: list[LabHost]) -> None:
    """Fill in `run`'s apt figures per host, read from the host after the run (not timed):
    dpkg time of the docker.io install and of any other install (python3-apt, for Ansible) from
    /var/log/apt/history.log, whose Start/End-Date bracket dpkg only (apt downloads before); and
    the download: MB of the .deb files that install fetched and the time from the first one
    landing (its ctime) to dpkg starting (a lower bound: the first file's own transfer is not in it)."""
    import docker

    client = docker.from_env()
    script = ("cat /var/log/apt/history.log; echo '=== debs'; "
              "stat -c '%Z %s %n' /var/cache/apt/archives/*.deb 2>/dev/null; true")
    for host in hosts:
        out = client.containers.get(host.container).exec_run(["sh", "-c", script])
        history, _, debs = out.output.decode(errors="replace").partition("=== debs")
        dpkg_start, earlier_end = None, run.started_at - 1  # the image holds older .debs
        for block in history.split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.strip().splitlines() if ": " in line)
            if "Start-Date" not in fields or "End-Date" not in fields:
                continue
            begin, finish = _apt_time(fields["Start-Date"]), _apt_time(fields["End-Date"])
            if "docker.io" in fields.get("Commandline", ""):
                run.dpkg_s[host.name] = finish - begin
                dpkg_start = begin
            else:
                run.other_dpkg_s[host.name] = run.other_dpkg_s.get(host.name, 0.0) + finish - begin
                if dpkg_start is None:
                    earlier_end = max(earlier_end, finish)
        if dpkg_start is None:
            continue
        fetched = []  # (mtime, bytes) of the .debs the docker.io install downloaded
        for line in debs.strip().splitlines():
            mtime, size, _ = line.split(" ", 2)
            if earlier_end < int(mtime) <= dpkg_start + 1:
                fetched.append((int(mtime), int(size)))
        if fetched:
            run.download_s[host.name] = max(0.0, dpkg_start - min(m for m, _ in fetched))
            run.download_mb[host.name] = sum(size for _, size in fetched) / 1e6


def _apt_time(value: str) -> float:
    """history.log's local time (the lab hosts run in UTC) as a Unix timestamp."""
    return datetime.strptime(" ".join(value.split()), "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=UTC).timestamp()


class CpuMeter:
    """CPU the rest of the machine used during a run: all busy CPU time (/proc/stat) minus what
    our subprocesses (rusage) and the bench lab's containers (cgroup cpuacct) used. The machine
    may be shared; a busy one makes every figure slower, Ansible's (CPU-bound controller) most."""

    def __init__(self, hosts: list[LabHost]):
        import resource

        import docker

        self._resource = resource
        client = docker.from_env()
        self.ids = [client.containers.get(h.container).id for h in hosts]
        self.start = self._sample()

    def _sample(self) -> tuple[float, float, float | None]:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
        hz = os.sysconf("SC_CLK_TCK")
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / hz  # all but idle and iowait
        ru = self._resource.getrusage(self._resource.RUSAGE_CHILDREN)
        return busy, ru.ru_utime + ru.ru_stime, self._containers_cpu()

    def _containers_cpu(self) -> float | None:
        total = 0.0
        for cid in self.ids:
            v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage")
            v2 = [Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat"),
                  Path(f"/sys/fs/cgroup/docker/{cid}/cpu.stat")]
            if v1.exists():
                total += int(v1.read_text()) / 1e9
                continue
            stat = next((p for p in v2 if p.exists()), None)
            if stat is None:
                return None
            usage = dict(line.split() for line in stat.read_text().splitlines())
            total += int(usage["usage_usec"]) / 1e6
        return total

    def stop(self, wall: float, detached_s: float = 0.0) -> tuple[float | None, float | None]:
        """(share of the machine's CPU other work used, CPU seconds the lab hosts used);
        `detached_s`: CPU of our processes no rusage sees (Ansible's ControlPersist masters)."""
        busy, ours, lab = self._sample()
        if lab is None or self.start[2] is None or wall <= 0:
            return None, None
        lab_s = lab - self.start[2]
        other = (busy - self.start[0]) - (ours - self.start[1]) - lab_s - detached_s
        return max(0.0, other) / (wall * (os.cpu_count() or 1)), lab_s


# -- paasops ---------------------------------------------------------------------------------

def run_paasops(lab: Lab, pki_dir: Path, what: str, hosts: list[LabHost], verify: bool = False) -> Run:
    cmd = [sys.executable, "-m", "paasops", "bootstrap", "-i", str(lab.inventory_path), "lab",
           "-o", "json", "--verify" if verify else "--no-verify"]
    env = dict(os.environ, PAASOPS_PKI_DIR=str(pki_dir))
    meter = CpuMeter(hosts)
    started_at, start = time.time(), time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    others, lab_cpu = meter.stop(seconds)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = None
    if done.returncode != 0 or report is None or report.get("failed_hosts"):
        raise BenchError(f"paasops bootstrap ({what}) exited {done.returncode}:\n"
                         f"{_tail(done.stdout)}\n{_tail(done.stderr)}")
    recap = report["recap"]
    if sorted(recap) != sorted(h.name for h in hosts):
        raise BenchError(f"paasops bootstrap ({what}) worked on {sorted(recap)}, expected "
                         f"{sorted(h.name for h in hosts)}")
    if verify and not all(report.get("verify", {}).get(h.name) for h in hosts):
        raise BenchError(f"paasops bootstrap ({what}): no verify result for some host: {report.get('verify')}")
    return Run("paasops", what, seconds, {h: r["changed"] for h, r in recap.items()}, others=others,
               lab_cpu=lab_cpu, started_at=started_at)


# -- ansible ---------------------------------------------------------------------------------

def ensure_ansible() -> Path:
    exe = VENV_BIN / "ansible-playbook"
    if not exe.exists():
        log("ansible-core is missing: pip install ansible-core (once)")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "ansible-core"], check=True)
    if not exe.exists():
        raise BenchError(f"{exe} not found after installing ansible-core")
    return exe


def write_ansible_inventory(lab: Lab, hosts: list[LabHost], pki_dir: Path, path: Path) -> None:
    """A YAML (JSON) inventory with the variables paasops.bootstrap.prepare_hosts sets, from the
    same CA (paasops.pki) and the same SSH key and known_hosts as the paasops runs."""
    ca = pki.ensure_ca(pki_dir)
    pki.ensure_client_cert(pki_dir, ca)
    etcd_ca = pki.etcd_client_files(pki_dir).ca.read_text()
    etcd = lab.etcd_endpoint()
    if not etcd:
        raise BenchError("the bench lab has no etcd endpoint")
    host_vars = {}
    for h in hosts:
        cert_pem, key_pem = pki.server_cert_for(pki_dir, h.name, h.address)
        agent_cert, agent_key = pki.agent_cert_for(pki_dir, h.name)
        host_vars[h.name] = {
            "etcd_ca_pem": etcd_ca, "etcd_cert_pem": agent_cert.decode(), "etcd_key_pem": agent_key.decode(),
            "ansible_host": h.address,
            "tls_ca_pem": ca.cert_pem.decode(), "tls_server_cert_pem": cert_pem.decode(),
            "tls_server_key_pem": key_pem.decode(), "etcd_endpoints": [etcd],
            "engine_id": h.name, "engine_address": h.address, "engine_labels": {},
            "engine_cpus": float(h.cpus), "engine_memory_mb": int(h.memory_mb),
            "edge_enabled": True,  # no group `edge` in the bench lab: every engine is an edge
        }
    inventory = {"all": {"hosts": host_vars, "vars": {
        "ansible_user": LAB_USER,
        "ansible_become": True,
        "ansible_ssh_private_key_file": str(lab.user_key.resolve()),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={lab.known_hosts.resolve()} "
                                   f"-o StrictHostKeyChecking=yes",
    }}}
    path.write_text(json.dumps(inventory, indent=2))


def run_ansible(exe: Path, inventory: Path, workdir: Path, what: str, hosts: list[LabHost]) -> Run:
    # A new ControlPath dir per run: no warm SSH master left over from the previous run, the
    # same footing as paasops, which opens its connections anew each run.
    control_dir = Path(tempfile.mkdtemp(prefix="cp-", dir=workdir))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ANSIBLE_DIR / "ansible.cfg"),
               ANSIBLE_SSH_CONTROL_PATH_DIR=str(control_dir), ANSIBLE_LOCAL_TEMP=str(workdir / "ansible-tmp"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    cmd = [str(exe), "-i", str(inventory), str(ANSIBLE_PLAYBOOK)]
    meter = CpuMeter(hosts)
    started_at, start = time.time(), time.perf_counter()
    done = subprocess.run(cmd, cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    others, lab_cpu = meter.stop(seconds, _cpu_of_processes_mentioning(str(control_dir)))
    (workdir / f"ansible-{what.replace(' ', '-')}.log").write_text(done.stdout + done.stderr)
    recap = {m["host"]: m for m in RECAP_LINE.finditer(done.stdout)}
    bad = [h for h, m in recap.items() if int(m["failed"]) or int(m["unreachable"])]
    if done.returncode != 0 or bad or sorted(recap) != sorted(h.name for h in hosts):
        raise BenchError(f"ansible-playbook ({what}) exited {done.returncode}, recap {sorted(recap)}, "
                         f"failed {bad}:\n{_tail(done.stdout, 40)}\n{_tail(done.stderr)}")
    _stop_control_masters(control_dir)
    return Run("ansible", what, seconds, {h: int(m["changed"]) for h, m in recap.items()}, others=others,
               lab_cpu=lab_cpu, started_at=started_at)


def verify_hosts(lab: Lab, pki_dir: Path, hosts: list[LabHost]) -> None:
    """`paasops verify` on hosts Ansible bootstrapped (not timed): proof the twin playbook does the
    same job (Docker API over mutual TLS, agent running, engine key in etcd)."""
    done = subprocess.run([sys.executable, "-m", "paasops", "verify", "-i", str(lab.inventory_path), "lab",
                           "-o", "json"], cwd=ROOT, env=dict(os.environ, PAASOPS_PKI_DIR=str(pki_dir)),
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"paasops verify of the Ansible-bootstrapped hosts failed ({done.returncode}):\n"
                         f"{_tail(done.stdout)}\n{_tail(done.stderr)}")
    log(f"    paasops verify passes on the {len(hosts)} Ansible-bootstrapped hosts")


def _cpu_of_processes_mentioning(text: str) -> float:
    """CPU seconds of the live processes whose command line contains `text`: the SSH masters
    ansible-playbook leaves behind (ControlPersist daemonises them, so rusage never sees them,
    yet they do all the encryption of a run)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if text.encode() not in (proc / "cmdline").read_bytes():
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
        except OSError:
            continue
    return total / os.sysconf("SC_CLK_TCK")


def _stop_control_masters(control_dir: Path) -> None:
    """Ask the ControlPersist masters this run left behind to exit (they would in 60 s anyway)."""
    for sock in control_dir.iterdir():
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "bench"], capture_output=True, check=False)


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# -- the report ------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def spread(runs: list[Run]) -> str:
    if len(runs) < 2:
        return ""
    times = sorted(r.seconds for r in runs)
    return f"median of {len(runs)}: {' '.join(f'{t:.2f}' for t in times)}"


def median(runs: list[Run]) -> float | None:
    return statistics.median(r.seconds for r in runs) if runs else None


def span(values: dict[str, float], unit: str = "") -> str:
    if not values:
        return "-"
    lo, hi = min(values.values()), max(values.values())
    return (f"{lo:.0f}" if round(lo) == round(hi) else f"{lo:.0f}-{hi:.0f}") + unit


def apt_line(label: str, run: Run | None) -> str:
    if run is None or not run.dpkg_s:
        return f"    {label:34}-"
    text = (f"    {label:34}download >= {span(run.download_s, ' s')} ({span(run.download_mb, ' MB')}), "
            f"dpkg {span(run.dpkg_s, ' s')}")
    if run.other_dpkg_s:
        text += f"; python3-apt for Ansible's apt module: dpkg {span(run.other_dpkg_s, ' s')}"
    return text


def print_report(one: Run, three: Run, idem: list[Run], idem_verify: Run | None,
                 a_three: Run | None, a_idem: list[Run]) -> None:
    p_idem, a_idem_s = median(idem), median(a_idem)
    print()
    print("Bootstrap wall time, seconds (lab hosts: Debian bookworm containers on this machine)")
    print(f"{'':44}{'paasops':>10}{'ansible':>10}")
    print(f"{'(a) 1 fresh host alone':44}{fmt_s(one.seconds):>10}{'-':>10}")
    print(f"{'(b) 3 fresh hosts, one parallel run':44}{fmt_s(three.seconds):>10}"
          f"{fmt_s(a_three.seconds if a_three else None):>10}")
    print(f"{'(c) 3 hosts, idempotent re-run':44}{p_idem:>10.2f}"
          f"{(f'{a_idem_s:.2f}' if a_idem_s is not None else '-'):>10}")
    if idem_verify:
        print(f"{'    idem. re-run + verify (CLI default)':44}{idem_verify.seconds:>10.2f}{'-':>10}")
    print("apt-get install docker.io inside those runs, per host (from the hosts' apt logs):")
    print(apt_line("(a) paasops, 1 host", one))
    print(apt_line("(b) paasops, 3 hosts", three))
    if a_three:
        print(apt_line("(b) ansible, 3 hosts", a_three))
    for label, runs in (("paasops", idem), ("ansible", a_idem)):
        if len(runs) > 1:
            print(f"  {label} idempotent runs, {spread(runs)} s")
    changed = [r for r in idem + a_idem + ([idem_verify] if idem_verify else []) if r.total_changed]
    for r in changed:
        print(f"  NOT IDEMPOTENT: {r.tool} {r.what} changed {r.changed}")

    print()
    print("Ratios and targets")
    scaling = three.seconds / one.seconds
    print(f"  3 hosts / 1 host (paasops, fresh)        {scaling:6.2f}x   target <= {TARGET_SCALING}x"
          f"   {verdict(scaling <= TARGET_SCALING)}")
    cpus = os.cpu_count() or 1
    if three.lab_cpu is not None and one.lab_cpu is not None:
        floor = three.lab_cpu / cpus
        print(f"    the 3 lab hosts' own work took {three.lab_cpu:.0f} CPU-s ({one.lab_cpu:.0f} for 1 host): on "
              f"{cpus} CPUs run (b) cannot take under {floor:.0f} s = {floor / one.seconds:.2f}x run (a)")
    print(f"  idempotent 3-host run (paasops)          {p_idem:6.2f} s   target <= {TARGET_IDEMPOTENT_S:g} s"
          f"    {verdict(p_idem <= TARGET_IDEMPOTENT_S)}")
    if idem_verify:
        print(f"    ... with verify (the CLI's default)    {idem_verify.seconds:6.2f} s   target <= "
              f"{TARGET_IDEMPOTENT_S:g} s    {verdict(idem_verify.seconds <= TARGET_IDEMPOTENT_S)}")
    if a_three:
        r = a_three.seconds / three.seconds
        print(f"  ansible / paasops, 3 fresh hosts         {r:6.2f}x   target > 1 (paasops faster)"
              f"   {verdict(r > 1)}")
    if a_idem_s is not None:
        r = a_idem_s / p_idem
        print(f"  ansible / paasops, idempotent 3 hosts    {r:6.2f}x   target > 1 (paasops faster)"
              f"   {verdict(r > 1)}")
    # Without apt's dpkg phase (the same work for both tools): what is left of a fresh run.
    if a_three and three.dpkg_s and a_three.dpkg_s:
        p_rest = three.seconds - max(three.dpkg_s.values())
        a_rest = a_three.seconds - max(a_three.dpkg_s.values()) - max(a_three.other_dpkg_s.values(), default=0)
        print(f"  fresh 3-host run minus apt's dpkg time   paasops {p_rest:.1f} s, ansible {a_rest:.1f} s")
    runs = [r for r in [one, three, *idem, idem_verify, a_three, *a_idem] if r and r.others is not None]
    if runs:
        print(f"  machine: {cpus} CPUs shared by the lab hosts, the tool and anything else running")
        print(f"    {'run':34}{'wall s':>8}{'lab hosts CPU s':>17}{'other work':>12}")
        for r in runs:
            print(f"    {r.tool + ' ' + r.what:34}{r.seconds:8.1f}{r.lab_cpu:17.1f}{r.others:12.0%}")
        if max(r.others for r in runs) > 0.15:
            print("  NOTE: the machine was busy with other work during some runs: those figures "
                  "(Ansible's most, its controller is CPU-bound) are slower and noisier than on an "
                  "idle machine.")
    fresh = [r for r in (one, three, a_three) if r and r.dpkg_s]
    apt_share = [(max(r.dpkg_s.values()) + max(r.download_s.values(), default=0)) / r.seconds for r in fresh]
    if apt_share and max(apt_share) > 0.5:
        print(f"  NOTE: apt (download + dpkg of docker.io) is {min(apt_share):.0%}-{max(apt_share):.0%} of the "
              "fresh runs. Its dpkg phase is CPU and disk work, and the lab hosts share this machine's "
              "CPUs (real hosts would not): 3 hosts unpacking at once take longer than one, whatever "
              "the tool. The fresh-host figures and the (b)/(a) ratio mostly measure apt on this "
              "machine, not the tools.")


# -- main ------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the paasops-bench lab up at the end")
    parser.add_argument("--repeat", type=int, default=3, help="idempotent paasops runs (median shown)")
    parser.add_argument("--ansible-repeat", type=int, default=2,
                        help="idempotent ansible-playbook runs (median shown; each takes ~10x paasops')")
    parser.add_argument("--skip-ansible", action="store_true", help="measure paasops only")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="paasops-bench-"))
    pki_dir = workdir / "pki"
    lab = Lab(name=LAB_NAME, inventory_path=workdir / "lab.ini", log=lambda m: log(f"lab: {m}"), pki_dir=pki_dir)
    started = time.perf_counter()
    failed = False
    try:
        exe = None if args.skip_ansible else ensure_ansible()

        log("(a) paasops: 1 fresh host alone")
        hosts = fresh_hosts(lab, 1)
        one = run_paasops(lab, pki_dir, "1 fresh host", hosts)
        apt_stats(one, hosts)
        log(f"    {one.seconds:.1f}s")

        log("(b) paasops: 3 fresh hosts in one run")
        hosts = fresh_hosts(lab, 3)
        three = run_paasops(lab, pki_dir, "3 fresh hosts", hosts)
        apt_stats(three, hosts)
        log(f"    {three.seconds:.1f}s")

        log(f"(c) paasops: idempotent re-run of the 3 hosts, {args.repeat}x, then once with verify")
        idem = [run_paasops(lab, pki_dir, f"idempotent #{i + 1}", hosts) for i in range(max(1, args.repeat))]
        idem_verify = run_paasops(lab, pki_dir, "idempotent + verify", hosts, verify=True)
        log(f"    {' '.join(f'{r.seconds:.2f}s' for r in idem)}; with verify {idem_verify.seconds:.2f}s")

        a_three, a_idem = None, []
        if exe:
            log("ansible-playbook: 3 fresh hosts in one run")
            hosts = fresh_hosts(lab, 3)
            inventory = workdir / "ansible-inventory.yml"
            write_ansible_inventory(lab, hosts, pki_dir, inventory)
            a_three = run_ansible(exe, inventory, workdir, "3 fresh hosts", hosts)
            apt_stats(a_three, hosts)
            verify_hosts(lab, pki_dir, hosts)
            log(f"    {a_three.seconds:.1f}s")
            log(f"ansible-playbook: idempotent re-run, {args.ansible_repeat}x")
            a_idem = [run_ansible(exe, inventory, workdir, f"idempotent #{i + 1}", hosts)
                      for i in range(max(1, args.ansible_repeat))]
            log(f"    {' '.join(f'{r.seconds:.2f}s' for r in a_idem)}")

        print_report(one, three, idem, idem_verify, a_three, a_idem)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        failed = True
    except Exception as exc:  # noqa: BLE001  the lab or Docker: still tear down, still exit 1
        print(f"bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        failed = True
    finally:
        if args.keep:
            log(f"--keep: lab {LAB_NAME} left up; inventories and logs in {workdir}")
        else:
            try:
                lab.down()
            except Exception as exc:  # noqa: BLE001
                print(f"lab down failed: {exc}", file=sys.stderr)
                failed = True
            if failed:
                log(f"logs kept in {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
        log(f"total {time.perf_counter() - started:.0f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
