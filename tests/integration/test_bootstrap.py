"""`paasops bootstrap` / `verify` on real lab hosts (systemd, sshd, nested dockerd) with a real etcd."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from lab_support import etcd_engine_keys, lab_exec, paasops

from paasops.engines.client import make_client
from paasops.lab import keys


def test_check_on_a_fresh_host_changes_nothing(lab, cli_env):
    done = paasops("bootstrap", "-i", str(lab.inventory_path), "lab1", "--check", "-o", "json", env=cli_env)
    assert done.returncode == 0, done.stderr[-3000:]
    recap = json.loads(done.stdout)["recap"]["lab1"]
    assert recap["changed"] > 0 and recap["failed"] == 0  # it says what would change ...
    assert lab_exec(lab, "lab1", "command -v dockerd").returncode != 0  # ... and changes nothing
    assert lab_exec(lab, "lab1", "test -e /etc/docker/daemon.json || test -e /etc/paasops").returncode != 0


def test_one_run_bootstraps_all_hosts_in_parallel(lab, bootstrapped, pki_dir):
    assert bootstrapped["failed_hosts"] == []
    for name in ("lab1", "lab2", "lab3"):
        assert bootstrapped["recap"][name]["changed"] > 0
        assert all(c["ok"] for c in bootstrapped["verify"][name]), bootstrapped["verify"][name]
    registered = etcd_engine_keys(lab.etcd_endpoint(), lab.pki_dir)
    assert set(registered) >= {"lab1", "lab2", "lab3"}
    by_name = {h.name: h for h in lab.hosts()}
    for name, value in registered.items():
        if name not in by_name:
            continue
        host = by_name[name]
        assert value["address"] == host.address and value["docker_port"] == 2376 and value["tls"] is True
        assert (value["cpus"], value["memory_mb"]) == (host.cpus, host.memory_mb)  # declared capacities


def test_docker_api_needs_the_cluster_client_certificate(lab, bootstrapped, pki_dir):
    for host in lab.hosts():
        assert make_client(host.address, 2376, pki_dir=pki_dir, timeout=5).ping()
        with pytest.raises(Exception):  # noqa: B017 - refused in the TLS handshake or as a requests error
            make_client(host.address, 2376, pki_dir=pki_dir, timeout=5, with_client_cert=False).ping()
    daemon = json.loads(lab_exec(lab, "lab1", "cat /etc/docker/daemon.json").stdout)
    assert daemon["tlsverify"] is True and daemon["live-restore"] is True and daemon["init"] is True
    assert daemon["log-opts"] == {"max-size": "10m", "max-file": "3"}
    assert lab_exec(lab, "lab1", "ls /etc/docker/tls").stdout.split() == ["ca.pem", "server-cert.pem",
                                                                         "server-key.pem"]


def test_second_run_changes_nothing(lab, bootstrapped, cli_env):
    done = paasops("bootstrap", "-i", str(lab.inventory_path), "lab", "-o", "json", env=cli_env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert {h: r["changed"] for h, r in report["recap"].items()} == {"lab1": 0, "lab2": 0, "lab3": 0}


def test_verify_command(lab, bootstrapped, cli_env):
    done = paasops("verify", "-i", str(lab.inventory_path), "lab", "-o", "json", env=cli_env)
    assert done.returncode == 0, done.stdout + done.stderr
    checks = json.loads(done.stdout)
    assert sorted(checks) == ["lab1", "lab2", "lab3"] and all(c["ok"] for cs in checks.values() for c in cs)


def _wait_for(predicate, timeout: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    return None


def test_stopping_the_agent_removes_the_key_at_once(lab, bootstrapped):
    endpoint = lab.etcd_endpoint()
    lab_exec(lab, "lab2", "systemctl stop paasops-register")
    try:
        took = _wait_for(lambda: "lab2" not in etcd_engine_keys(endpoint, lab.pki_dir), 2.0)
        assert took is not None and took < 1.5
    finally:
        lab_exec(lab, "lab2", "systemctl start paasops-register")
    assert _wait_for(lambda: "lab2" in etcd_engine_keys(endpoint, lab.pki_dir), 10.0) is not None


def test_a_frozen_host_lets_its_key_expire_within_the_ttl(lab, bootstrapped):
    """The host stops dead (every process frozen): nothing revokes the lease, it just expires."""
    import docker
    endpoint = lab.etcd_endpoint()
    container = docker.from_env().containers.get(f"{lab.name}-lab3")
    container.pause()
    try:
        took = _wait_for(lambda: "lab3" not in etcd_engine_keys(endpoint, lab.pki_dir), 15.0)
        assert took is not None, "key of a frozen host still there after 15 s (TTL 10 s)"
    finally:
        container.unpause()
    assert _wait_for(lambda: "lab3" in etcd_engine_keys(endpoint, lab.pki_dir), 15.0) is not None  # it heals


# -- bad input: one clear line naming the host and cause, non-zero exit, other hosts unaffected --

def _inventory(tmp_path: Path, lab, lines: list[str], **group_vars) -> Path:
    gv = {"ansible_user": "admin", "ansible_become": "true",
          "ansible_ssh_private_key_file": str(lab.user_key), "paasops_known_hosts": str(lab.known_hosts),
          "paasops_etcd_endpoints": lab.etcd_endpoint(), **group_vars}
    path = tmp_path / "hosts.ini"
    path.write_text("\n".join(["[t]", *lines, "", "[t:vars]", *(f"{k}={v}" for k, v in gv.items()), ""]))
    return path


def _good_line(lab, name="lab3") -> str:
    host = next(h for h in lab.hosts() if h.name == name)
    return f"{name} ansible_host={host.address} paasops_cpus={host.cpus:g} paasops_memory_mb={host.memory_mb}"


def _run_bad(lab, cli_env, inventory: Path, *extra: str):
    done = paasops("bootstrap", "-i", str(inventory), "t", "-o", "json", *extra, env=cli_env)
    assert done.returncode != 0
    return done, json.loads(done.stdout) if done.stdout.strip().startswith("{") else None


def _assert_good_host_unaffected(report):
    assert report["recap"]["lab3"]["failed"] == 0 and report["recap"]["lab3"]["changed"] == 0
    assert all(c["ok"] for c in report["verify"]["lab3"])


@pytest.mark.parametrize("case", ["unreachable", "wrong user", "wrong key", "unknown host key",
                                  "changed host key"])
def test_bad_host_fails_alone_with_a_clear_message(case, lab, bootstrapped, cli_env, tmp_path):
    lab1 = next(h for h in lab.hosts() if h.name == "lab1")
    bad_line, extra, expect = f"bad ansible_host={lab1.address}", [], ""
    if case == "unreachable":
        bad_line, expect = f"bad ansible_host={lab1.address} ansible_port=2222", "refused"
    elif case == "wrong user":
        bad_line, expect = f"bad ansible_host={lab1.address} ansible_user=nobody", "authentication failed"
    elif case == "wrong key":
        other = tmp_path / "other_key"
        keys.ensure_key_pair(other, "not-authorised")
        bad_line, expect = f"bad ansible_host={lab1.address} ansible_ssh_private_key_file={other}", \
            "authentication failed"
    elif case == "unknown host key":
        known = tmp_path / "known_hosts"
        known.write_text(next(line for line in lab.known_hosts.read_text().splitlines()
                              if line.split()[0] != lab1.address) + "\n")
        bad_line, expect = f"bad ansible_host={lab1.address} paasops_known_hosts={known}", "unknown host key"
    elif case == "changed host key":
        fake = tmp_path / "fake_key"
        pub = keys.ensure_key_pair(fake, "impostor")
        known = tmp_path / "known_hosts"
        lines = [line for line in lab.known_hosts.read_text().splitlines() if line.split()[0] != lab1.address]
        known.write_text("\n".join(lines + [keys.host_key_line([lab1.address], pub)]) + "\n")
        bad_line, expect = f"bad ansible_host={lab1.address} paasops_known_hosts={known}", "changed"
    done, report = _run_bad(lab, cli_env, _inventory(tmp_path, lab, [bad_line, _good_line(lab)]), *extra)
    assert report is not None, done.stderr[-2000:]
    assert list(report["unreachable"]) == ["bad"] and expect in report["unreachable"]["bad"].lower()
    assert "bad" in report["failed_hosts"]
    _assert_good_host_unaffected(report)


def test_unsupported_distribution_is_refused(lab, bootstrapped, cli_env, tmp_path):
    fedora = 'NAME="Fedora Linux"\nID=fedora\nVERSION_ID=39\nPRETTY_NAME="Fedora Linux 39"\n'
    lab_exec(lab, "lab1", f"printf '{fedora}' > /tmp/os-release && mount --bind /tmp/os-release /usr/lib/os-release")
    try:
        inventory = _inventory(tmp_path, lab, [_good_line(lab, "lab1"), _good_line(lab)])
        done, report = _run_bad(lab, cli_env, inventory)
    finally:
        lab_exec(lab, "lab1", "umount /usr/lib/os-release")
    assert report["failed_hosts"] == ["lab1"]
    assert "unsupported distribution" in report["failures"]["lab1"] and "Fedora" in report["failures"]["lab1"]
    assert report["recap"]["lab1"]["changed"] == 0
    _assert_good_host_unaffected(report)


def test_malformed_inventory_names_the_line(tmp_path, cli_env):
    bad = tmp_path / "bad.ini"
    bad.write_text("[web]\nnode1 ansible_host=10.0.0.1\n[web:vars\nx=1\n")
    done = paasops("bootstrap", "-i", str(bad), "web", env=cli_env)
    assert done.returncode == 2
    assert f"{bad}:3" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_malformed_playbook_names_task_and_field(lab, tmp_path, cli_env):
    book = tmp_path / "bad.yml"
    book.write_text("- hosts: all\n  tasks:\n    - name: install tools\n      package: {name: curl, state: installed}\n")
    done = paasops("play", str(book), "-i", str(lab.inventory_path), "lab1", env=cli_env)
    assert done.returncode == 2
    assert "task 'install tools'" in done.stderr and "state" in done.stderr


@pytest.mark.parametrize("name", ["lab1", "lab2", "lab3"])
def test_bootstrapped_host_as_testinfra_sees_it(name, lab, bootstrapped):
    """The host checked from outside paasops (testinfra through `docker exec`, not our connector)."""
    import testinfra

    host = testinfra.get_host(f"docker://{lab.name}-{name}")
    assert host.package("docker.io").is_installed
    assert host.service("docker").is_running and host.service("docker").is_enabled
    assert host.service("paasops-register").is_running
    assert host.socket("tcp://0.0.0.0:2376").is_listening or host.socket("tcp://:::2376").is_listening
    key = host.file("/etc/docker/tls/server-key.pem")
    assert key.exists and key.user == "root" and key.mode == 0o600
    assert not host.file("/etc/docker/tls/ca-key.pem").exists  # the CA's key never leaves the control machine
