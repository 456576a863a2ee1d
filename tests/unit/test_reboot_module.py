"""The reboot module against an in-memory host: it orders the reboot, rides out the lost connection, waits for a
new boot id and runs the test command; check mode orders nothing; a host that never comes back fails the task."""

from __future__ import annotations

from paasops.automation.modules import ModuleContext, lookup
from paasops.automation.modules.reboot import BOOT_ID, boot_id
from paasops.connectors.base import CommandResult, Connector
from paasops.errors import ConnectionFailed

OLD, NEW = "0b4f1c2e-1111-4a5b-9c8d-000000000001", "0b4f1c2e-2222-4a5b-9c8d-000000000002"


class Host(Connector):
    """Answers its boot id; after the reboot order it is unreachable for `down` tries, then has a new boot id."""

    def __init__(self, down: int = 2, comes_back: bool = True):
        self.name, self.down, self.comes_back = "h1", down, comes_back
        self.rebooting, self.closed, self.commands = False, 0, []

    def run(self, command, *, sudo=False, timeout=None, stdin=None):
        self.commands.append(command)
        if self.rebooting:
            if self.down > 0 or not self.comes_back:
                self.down -= 1
                raise ConnectionFailed("connection refused", where=self.name)
            if command == BOOT_ID:
                return CommandResult(command, 0, NEW + "\n", "")
        if command == BOOT_ID:
            return CommandResult(command, 0, OLD + "\n", "")
        if "systemctl reboot" in command:
            self.rebooting = True
        return CommandResult(command, 0, "root\n", "")

    def put(self, data, path, *, mode=None, sudo=False):
        raise AssertionError("reboot writes no file")

    def get(self, path, *, sudo=False):
        return None

    def close(self):
        self.closed += 1


def run(host: Host, check: bool = False, **args):
    module = lookup("reboot")
    assert module is not None
    values = module.validate({"pre_reboot_delay": 0, "sleep": 0, **args})
    ctx = ModuleContext(connector=host, host_facts={}, variables={}, check=check)
    return module.execute(ctx, values)


def test_boot_id_is_read_only_from_a_uuid():
    assert boot_id(OLD + "\n") == OLD
    assert boot_id("") is None and boot_id("cat: no such file") is None


def test_it_reboots_rides_out_the_lost_connection_and_waits_for_a_new_boot_id():
    host = Host(down=3)
    outcome = run(host)
    assert not outcome.failed and outcome.changed, outcome.msg
    assert outcome.data["rebooted"] is True
    assert host.closed == 1  # the old connection is dropped so the next command connects again
    assert host.commands[-1] == "whoami"  # the test command ran once it was back
    assert sum("systemctl reboot" in c for c in host.commands) == 1
    assert host.commands.count(BOOT_ID) == 1 + 3 + 1  # before, three refused tries, then the new id


def test_check_mode_orders_nothing():
    host = Host()
    outcome = run(host, check=True)
    assert outcome.changed and "would reboot" in outcome.msg and host.commands == []


def test_a_host_that_does_not_come_back_fails_the_task_with_the_last_error():
    outcome = run(Host(comes_back=False), reboot_timeout=0)
    assert outcome.failed and "not back 0 s after the reboot" in outcome.msg and "connection refused" in outcome.msg
