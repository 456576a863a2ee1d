"""Soak of the self-healing supervisor on a running lab: no flapping after a host returns, none under ICMP loss.

Needs a lab (`paasops lab up`) and a `paasops serve --etcd ...` on it that this shell is logged in to
(PAASOPS_SERVER and the saved token, as the CLI uses). Run as root (iptables inside the lab host):

    python bench/heal_soak.py [--lab paasops-lab] [--host lab2] [--quiet 120] [--loss-for 180]

1. deploys `soak` (6 replicas, spread, reschedule_after 10s) and cuts HOST off its network until its
   replicas run elsewhere, then reconnects it;
2. for `--quiet` seconds samples every second: the replica set must not change once the surplus is gone;
3. drops 5 % of ICMP in HOST's network namespace (`iptables -m statistic --mode random --probability
   0.05`) for `--loss-for` seconds: no replica may move, and HOST must stay up.
Prints one line per phase and a JSON summary; exits 1 if a phase failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paasops.client import ApiClient  # noqa: E402
from paasops.lab import DEFAULT_NAME  # noqa: E402

APP = {"name": "soak", "image": "paasops/hello:latest", "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
       "ports": ["0:8080"], "cpus": 0.1, "memory": "32m", "strategy": "spread", "reschedule_after": "10s"}
COUNT = 6
LOSS_RULE = ["INPUT", "-p", "icmp", "-m", "statistic", "--mode", "random", "--probability", "0.05", "-j", "DROP"]


def in_host(lab: str, host: str, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", f"{lab}-{host}", *command], capture_output=True, text=True, timeout=60)


def replicas(api: ApiClient) -> dict[str, str]:
    """Running replicas of the soak app: container id -> host."""
    return {c.id: c.engine for c in api.containers(app=APP["name"]) if c.state == "running"}


def wait(predicate, timeout: float, step: float = 0.2) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(step)
    return None


def heal_events(api: ApiClient) -> int:
    return len([e for e in api.events(app=APP["name"], limit=500) if e.type in ("heal", "heal-deferred")])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default=DEFAULT_NAME)
    parser.add_argument("--host", default="lab2")
    parser.add_argument("--quiet", type=float, default=120.0)
    parser.add_argument("--loss-for", type=float, default=180.0)
    args = parser.parse_args()
    api = ApiClient()
    api.deploy(APP, COUNT)
    summary: dict[str, object] = {}
    ok = True
    # -- cut, reconnect ---------------------------------------------------------------------------
    gateway = in_host(args.lab, args.host, "ip", "-4", "route", "show", "default").stdout.split()[2]
    on_host = {i for i, h in replicas(api).items() if h == args.host}
    start = time.monotonic()
    in_host(args.lab, args.host, "ip", "link", "set", "eth0", "down")
    try:
        moved = wait(lambda: len([h for h in replicas(api).values() if h != args.host]) == COUNT, 60)
    finally:
        in_host(args.lab, args.host, "sh", "-c", f"ip link set eth0 up && ip route replace default via {gateway}")
    summary["moved_after_cut_s"] = None if moved is None else round(time.monotonic() - start, 1)
    print(f"cut {args.host}: its {len(on_host)} replicas ran elsewhere after {summary['moved_after_cut_s']} s")
    wait(lambda: api.engine(args.host).status == "up", 60)
    settled = wait(lambda: len(replicas(api)) == COUNT and not on_host & set(replicas(api)), 60)
    summary["surplus_removed_s"] = None if settled is None else round(settled, 1)
    ok &= moved is not None and settled is not None
    # -- quiet: nothing moves ---------------------------------------------------------------------
    before, events = replicas(api), heal_events(api)
    changes = 0
    for _ in range(int(args.quiet)):
        time.sleep(1)
        now = replicas(api)
        changes += now != before
        before = now
    summary["quiet_changes"], summary["quiet_heal_events"] = changes, heal_events(api) - events
    print(f"quiet {args.quiet:.0f} s after the return: {changes} changes of the replica set, "
          f"{summary['quiet_heal_events']} heal events")
    ok &= changes == 0 and summary["quiet_heal_events"] == 0
    # -- 5 % ICMP loss ------------------------------------------------------------------------------
    before, events = replicas(api), heal_events(api)
    statuses: set[str] = set()
    in_host(args.lab, args.host, "iptables", "-I", *LOSS_RULE)
    try:
        end = time.monotonic() + args.loss_for
        while time.monotonic() < end:
            statuses.add(api.engine(args.host).status)
            time.sleep(1)
    finally:
        while in_host(args.lab, args.host, "iptables", "-D", *LOSS_RULE).returncode == 0:
            pass
    moved_ids = set(before) ^ set(replicas(api))
    summary["loss_moved"], summary["loss_statuses"] = len(moved_ids), sorted(statuses)
    summary["loss_heal_events"] = heal_events(api) - events
    print(f"5% ICMP loss on {args.host} for {args.loss_for:.0f} s: {len(moved_ids)} replicas moved, "
          f"statuses seen {sorted(statuses)}, {summary['loss_heal_events']} heal events")
    ok &= not moved_ids and summary["loss_heal_events"] == 0
    api.delete_app(APP["name"])
    print(json.dumps({"ok": ok, **summary}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
