"""Helpers of the integration tests: run the real CLI, read etcd, look inside lab hosts."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def paasops(*args: str, env: dict | None = None, check: bool = False, timeout: float = 900):
    """Run the real `paasops` command line; returns CompletedProcess with text output."""
    done = subprocess.run([sys.executable, "-m", "paasops", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})
    if check and done.returncode != 0:
        raise AssertionError(f"paasops {' '.join(args)} exited {done.returncode}\n"
                             f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}")
    return done


def etcd_engine_keys(endpoint: str) -> dict[str, dict]:
    """Every /paasops/engines/ key in etcd, read through the v3 JSON gateway."""
    prefix = b"/paasops/engines/"
    body = json.dumps({"key": base64.b64encode(prefix).decode(),
                       "range_end": base64.b64encode(prefix[:-1] + b"0").decode()}).encode()
    req = urllib.request.Request(endpoint + "/v3/kv/range", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=5) as reply:
        kvs = json.loads(reply.read()).get("kvs") or []
    return {base64.b64decode(kv["key"]).decode()[len(prefix):]: json.loads(base64.b64decode(kv["value"]))
            for kv in kvs}


def lab_exec(lab, host: str, command: str) -> subprocess.CompletedProcess:
    """Run a shell command inside a lab host (to look at it from outside paasops)."""
    return subprocess.run(["docker", "exec", f"{lab.name}-{host}", "sh", "-c", command],
                          capture_output=True, text=True, timeout=120)
