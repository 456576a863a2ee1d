"""Fact parsers: text a host prints → the facts playbooks see."""

from __future__ import annotations

import pytest

from paasops.automation.facts import (
    HOST_FACTS,
    parse_dpkg_query,
    parse_host_facts,
    parse_init,
    parse_meminfo,
    parse_os_release,
    parse_stat,
    parse_supervised,
    parse_systemctl_show,
)

DEBIAN_12 = '''PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
'''
UBUNTU_22 = '''NAME="Ubuntu"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 22.04.4 LTS"
VERSION_ID="22.04"
UBUNTU_CODENAME=jammy
'''
ROCKY_9 = '''NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
'''
DEBIAN_9 = 'PRETTY_NAME="Debian GNU/Linux 9 (stretch)"\nVERSION_ID="9"\nVERSION="9 (stretch)"\nID=debian\n'


@pytest.mark.parametrize("text, expected", [
    (DEBIAN_12, {"id": "debian", "id_like": [], "family": "debian", "version_id": "12", "codename": "bookworm",
                 "name": "Debian GNU/Linux 12 (bookworm)"}),
    (UBUNTU_22, {"id": "ubuntu", "id_like": ["debian"], "family": "debian", "version_id": "22.04",
                 "codename": "jammy", "name": "Ubuntu 22.04.4 LTS"}),
    (ROCKY_9, {"id": "rocky", "id_like": ["rhel", "centos", "fedora"], "family": "rhel", "version_id": "9.3",
               "codename": "", "name": "Rocky Linux 9.3 (Blue Onyx)"}),
    (DEBIAN_9, {"id": "debian", "id_like": [], "family": "debian", "version_id": "9", "codename": "stretch",
                "name": "Debian GNU/Linux 9 (stretch)"}),
    ("", {"id": "", "id_like": [], "family": "", "version_id": "", "codename": "", "name": ""}),
])
def test_os_release(text, expected):
    assert parse_os_release(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("/usr/lib/systemd/systemd\nsystemd\nsystemd-dir\n", "systemd"),
    ("\nsystemd\n", "systemd"),  # readlink refused (not root), comm still says so
    ("/sbin/init\ninit\n", "other"),
    ("/usr/bin/dumb-init\ndumb-init\n", "other"),
    ("", "other"),
])
def test_init(text, expected):
    assert parse_init(text) == expected


def test_meminfo():
    assert parse_meminfo("MemTotal:        8127452 kB\nMemFree:  1 kB\n") == 7936  # 8127452 // 1024
    assert parse_meminfo("") == 0


@pytest.mark.parametrize("text, expected", [
    ("regular file|644|root|root|12\n", {"type": "file", "mode": 0o644, "owner": "root", "group": "root", "size": 12}),
    ("regular empty file|600|app|adm|0", {"type": "file", "mode": 0o600, "owner": "app", "group": "adm", "size": 0}),
    ("directory|2775|root|docker|4096", {"type": "directory", "mode": 0o2775, "owner": "root", "group": "docker",
                                         "size": 4096}),
    ("", None),
])
def test_stat(text, expected):
    assert parse_stat(text) == expected


def test_dpkg_query():
    out = ("curl\tinstall ok installed\t7.88.1-10\n"
           "nano\tdeinstall ok config-files\t7.2-1\n"
           "libc6:amd64\tinstall ok installed\t2.36-9\n")
    assert parse_dpkg_query(out) == {"curl": "7.88.1-10", "libc6": "2.36-9"}


@pytest.mark.parametrize("text, expected", [
    ("LoadState=loaded\nActiveState=active\nUnitFileState=enabled\nNeedDaemonReload=no\n",
     {"exists": True, "active": True, "enabled": True, "unit_file_state": "enabled", "need_reload": False}),
    ("LoadState=loaded\nActiveState=inactive\nUnitFileState=disabled\nNeedDaemonReload=yes\n",
     {"exists": True, "active": False, "enabled": False, "unit_file_state": "disabled", "need_reload": True}),
    ("LoadState=not-found\nActiveState=inactive\nUnitFileState=\nNeedDaemonReload=no\n",
     {"exists": False, "active": False, "enabled": False, "unit_file_state": "", "need_reload": False}),
])
def test_systemctl_show(text, expected):
    assert parse_systemctl_show(text) == expected


def test_supervised():
    assert parse_supervised("running 4242\n") == {"running": True, "pid": 4242}
    assert parse_supervised("stopped\n") == {"running": False, "pid": None}


def test_host_facts_sections():
    out = ("@@paasops-fact distribution\n" + UBUNTU_22 +
           "@@paasops-fact init\n/lib/systemd/systemd\nsystemd\n"
           "@@paasops-fact cpu_count\n4\n@@paasops-fact mem_mb\nMemTotal: 2048000 kB\n"
           "@@paasops-fact arch\nx86_64\n@@paasops-fact hostname\nnode1\n@@paasops-fact user_is_root\n1000\n")
    facts = parse_host_facts(out)
    assert facts["distribution"]["codename"] == "jammy"
    assert (facts["init"], facts["systemd"], facts["cpu_count"], facts["mem_mb"]) == ("systemd", True, 4, 2000)
    assert (facts["arch"], facts["hostname"], facts["user_is_root"]) == ("x86_64", "node1", False)
    assert set(facts) == {f.name for f in HOST_FACTS} | {"systemd"}
