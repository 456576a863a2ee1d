"""The built wheel, installed in a fresh venv outside the repository, bootstraps and verifies lab hosts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lab_support import ROOT


@pytest.fixture(scope="session")
def wheel_venv(tmp_path_factory) -> Path:
    """One venv per session with only the wheel and the dependencies it declares (from PyPI,
    through the pip cache): no --system-site-packages, so a missing runtime dependency shows."""
    work = tmp_path_factory.mktemp("wheel")
    # pip builds in the source tree, and a build/ left there from an older build can slip stale
    # modules into the wheel: build from a clean copy of the repository instead.
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".lab"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work), str(source)],
                           capture_output=True, text=True, timeout=600, check=False)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next(work.glob("paasops-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True,
                             text=True, timeout=900, cwd=work, check=False)
    assert install.returncode == 0, install.stderr[-3000:]
    return venv


def _installed(venv: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the venv's own `paasops` from a directory outside the repository, without PYTHONPATH
    (which would put the checkout's paasops first)."""
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(venv / "bin" / "paasops"), *args], capture_output=True, text=True,
                          timeout=900, cwd=venv.parent, env={**clean, **(env or {})}, check=False)


def test_the_venv_runs_the_wheel_without_test_dependencies(wheel_venv):
    probe = "import paasops, importlib.util as u; print(paasops.__file__); print(u.find_spec('pytest') is None)"
    where = subprocess.run([str(wheel_venv / "bin" / "python"), "-c", probe], capture_output=True, text=True,
                           cwd=wheel_venv.parent, env={"PATH": os.environ["PATH"]}, check=True)
    path, no_pytest = where.stdout.split()
    assert path.startswith(str(wheel_venv)) and not path.startswith(str(ROOT)) and no_pytest == "True"


def test_bootstrap_check_from_the_wheel(lab, wheel_venv, cli_env):
    done = _installed(wheel_venv, "bootstrap", "-i", str(lab.inventory_path), "lab1", "--check", "-o", "json",
                      env=cli_env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    recap = report["recap"]["lab1"]
    # every task ran: the playbook, its templates and the agent it copies came from the wheel
    assert recap["failed"] == 0 and not report["unreachable"] and recap["ok"] + recap["changed"] > 10


def test_verify_from_the_wheel(lab, bootstrapped, wheel_venv, cli_env):
    done = _installed(wheel_venv, "verify", "-i", str(lab.inventory_path), "lab", "-o", "json", env=cli_env)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    checks = json.loads(done.stdout)
    assert sorted(checks) == ["lab1", "lab2", "lab3"] and all(c["ok"] for cs in checks.values() for c in cs)
