"""playbooks/upgrade.yml through the runner on an in-memory Debian host with systemd: nothing to upgrade changes
nothing and never reboots; upgrades with /var/run/reboot-required reboot once, before the services are checked;
--check runs no apt command and still says whether it would reboot."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from paasops.automation import load_playbook, run_playbook
from paasops.automation.modules import reboot
from paasops.bootstrap import PLAYBOOKS_DIR
from paasops.connectors.base import CommandResult, Connector

FACTS = ("@@paasops-fact distribution\nID=debian\nVERSION_ID=12\nVERSION_CODENAME=bookworm\n"
         "@@paasops-fact init\n/usr/lib/systemd/systemd\nsystemd\nsystemd-dir\n@@paasops-fact user_is_root\n0\n")
UNIT = "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\nNeedDaemonReload=no\n"
NOTHING = "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
SOME = "3 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"


@dataclass
class Host:
    name: str = "h1"
    address: str = "10.0.0.1"
    vars: dict = field(default_factory=dict)
    groups: tuple = ()


class Debian(Connector):
    """Answers facts, units and apt as a Debian host would; `upgrades`: apt has something to upgrade."""

    def __init__(self, upgrades: bool, reboot_required: bool):
        self.name, self.upgrades, self.reboot_required = "h1", upgrades, reboot_required
        self.commands: list[str] = []
        self.boot = "0b4f1c2e-1111-4a5b-9c8d-000000000001"

    def run(self, command, *, sudo=False, timeout=None, stdin=None):
        if command.startswith("echo '@@paasops-fact"):
            return CommandResult(command, 0, FACTS, "")
        self.commands.append(command)
        if command.startswith("systemctl show"):
            return CommandResult(command, 0, UNIT, "")
        if command == "test -e /var/run/reboot-required && echo yes || echo no":
            return CommandResult(command, 0, "yes\n" if self.reboot_required else "no\n", "")
        if command == reboot.BOOT_ID:
            return CommandResult(command, 0, self.boot + "\n", "")
        if "systemctl reboot" in command:
            self.boot, self.reboot_required = "0b4f1c2e-2222-4a5b-9c8d-000000000002", False
        if "apt-get" in command and ("upgrade" in command):
            return CommandResult(command, 0, SOME if self.upgrades else NOTHING, "")
        return CommandResult(command, 0, "", "")

    def put(self, data, path, *, mode=None, sudo=False):
        raise AssertionError("upgrade.yml writes no file")

    def get(self, path, *, sudo=False):
        return None


def upgrade(host: Debian, check: bool = False):
    report = run_playbook(load_playbook(PLAYBOOKS_DIR / "upgrade.yml"), [Host()], lambda h: host, check=check)
    assert report.ok, report.failures
    return {r.task: r.status for r in report.for_host("h1")}, report.recap["h1"]


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(reboot.time, "sleep", lambda seconds: None)


def test_nothing_to_upgrade_changes_nothing_and_never_reboots():
    host = Debian(upgrades=False, reboot_required=False)
    statuses, recap = upgrade(host)
    assert recap.changed == 0, statuses
    assert statuses["Reboot, and wait until the host is back with a new boot id"] == "skipped"
    assert not any("systemctl reboot" in c for c in host.commands)
    assert "systemctl is-active ssh docker paasops-register" in host.commands


def test_upgrades_asking_for_a_reboot_reboot_once_before_the_services_are_checked():
    host = Debian(upgrades=True, reboot_required=True)
    statuses, _ = upgrade(host)
    assert statuses["Upgrade docker.io (only if installed; never installs it)"] == "changed"
    assert statuses["Upgrade the OS packages (installed ones only; none added or removed)"] == "changed"
    assert statuses["Reboot, and wait until the host is back with a new boot id"] == "changed"
    order = [i for i, c in enumerate(host.commands) if "only-upgrade docker.io" in c or "systemctl reboot" in c
             or c == "systemctl is-active ssh docker paasops-register"]
    assert len(order) == 3 and "docker.io" in host.commands[order[0]] and "reboot" in host.commands[order[1]]


@pytest.mark.parametrize("required", [True, False])
def test_check_mode_runs_no_apt_command_and_says_whether_it_would_reboot(required):
    host = Debian(upgrades=True, reboot_required=required)
    statuses, _ = upgrade(host, check=True)
    assert not any("apt-get" in c or "systemctl reboot" in c for c in host.commands), host.commands
    assert statuses["Reboot, and wait until the host is back with a new boot id"] == ("changed" if required
                                                                                      else "skipped")
