"""Integration fixtures: a lab of real hosts (containers with sshd and systemd) on the local dockerd."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from paasops.inventory import load_inventory
from paasops.lab import Lab

ROOT = Path(__file__).resolve().parents[2]
LAB_NAME = "paasops-test"


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def test_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("paasops")


@pytest.fixture(scope="session")
def lab(test_dir):
    """Three fresh lab hosts (4/4096, 2/2048, 8/8192 declared), torn down at the end."""
    lab = Lab(name=LAB_NAME, inventory_path=test_dir / "lab.ini")
    lab.down()  # a fresh lab every run: bootstrap must install Docker for real
    lab.up(3)
    yield lab
    if not os.environ.get("PAASOPS_KEEP_LAB"):
        lab.down()


@pytest.fixture(scope="session")
def lab_inventory(lab):
    return load_inventory(lab.inventory_path)


@pytest.fixture(scope="session")
def pki_dir(test_dir) -> Path:
    return test_dir / "pki"


def paasops(*args: str, env: dict | None = None, check: bool = False, timeout: float = 900):
    """Run the real `paasops` command line; returns CompletedProcess with text output."""
    done = subprocess.run([sys.executable, "-m", "paasops", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})
    if check and done.returncode != 0:
        raise AssertionError(f"paasops {' '.join(args)} exited {done.returncode}\n"
                             f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}")
    return done
