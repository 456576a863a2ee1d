"""Integration fixtures: a lab of real hosts (containers with sshd and systemd) on the local dockerd."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from lab_support import paasops

from paasops.inventory import load_inventory
from paasops.lab import Lab

LAB_NAME = "paasops-test"


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def test_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("paasops")


@pytest.fixture(scope="session")
def lab(test_dir, pki_dir):
    """Three fresh lab hosts (4/4096, 2/2048, 8/8192 declared) and their etcd (TLS, client certs of the
    tests' own etcd CA), torn down at the end."""
    lab = Lab(name=LAB_NAME, inventory_path=test_dir / "lab.ini", pki_dir=pki_dir)
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


@pytest.fixture(scope="session")
def cli_env(pki_dir) -> dict:
    """Environment for `paasops` subprocesses: the tests' own cluster CA."""
    return {"PAASOPS_PKI_DIR": str(pki_dir)}


@pytest.fixture(scope="session")
def bootstrapped(lab, cli_env):
    """The lab after one `paasops bootstrap` run (idempotent: a no-op when already done)."""
    done = paasops("bootstrap", "-i", str(lab.inventory_path), "lab", "-o", "json", env=cli_env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)
