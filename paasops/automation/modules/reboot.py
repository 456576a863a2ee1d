"""reboot: reboot the host, then wait until it is back (a new boot id) and answers a test command."""

from __future__ import annotations

import time
from typing import Any

from paasops.automation.modules.base import Arg, Module, ModuleContext, Outcome
from paasops.errors import PaasopsError

BOOT_ID = "cat /proc/sys/kernel/random/boot_id"
# Detached and a second late, so the command returns (and SSH closes cleanly) before the host goes down.
REBOOT = ("nohup sh -c 'sleep {delay}; systemctl reboot || shutdown -r now || reboot' "
          ">/dev/null 2>&1 </dev/null &")


def boot_id(text: str) -> str | None:
    """The boot id the kernel shows (a new one after every boot), or None when the output is not one."""
    value = text.strip()
    return value if len(value) == 36 and value.count("-") == 4 else None


class RebootModule(Module):
    name = "reboot"
    args = {
        "pre_reboot_delay": Arg("float", default=1.0),  # seconds between the order and the reboot
        "post_reboot_delay": Arg("float", default=0.0),  # seconds to wait once it is back, before the test
        "reboot_timeout": Arg("float", default=600.0),  # seconds the host may take to come back
        "test_command": Arg("str", default="whoami"),
        "sleep": Arg("float", default=2.0),  # seconds between tries to reach it again
        "msg": Arg("str"),
    }

    def execute(self, ctx: ModuleContext, args: dict[str, Any]) -> Outcome:
        if ctx.check:
            return Outcome(changed=True, msg="check mode: would reboot")
        before = boot_id(ctx.run(BOOT_ID).stdout)
        if before is None:
            return Outcome(failed=True, msg="cannot read the boot id (/proc/sys/kernel/random/boot_id)")
        order = ctx.run(REBOOT.format(delay=max(0.0, args["pre_reboot_delay"])))
        if not order.ok:
            return Outcome(failed=True, msg=f"the reboot was refused: {order.stderr.strip() or order.exit_code}")
        ctx.connector.close()  # the next command connects again (the connectors open lazily)
        start = time.monotonic()
        time.sleep(max(0.0, args["pre_reboot_delay"]))
        last = "the host did not answer"
        while True:
            try:
                now = boot_id(ctx.run(BOOT_ID, timeout=30).stdout)
                if now is not None and now != before:
                    break
                last = "the host answers with the boot id it had before the reboot"
            except PaasopsError as exc:  # down, or coming up: expected while it reboots
                last = str(exc)
            if time.monotonic() - start > args["reboot_timeout"]:
                return Outcome(failed=True, msg=args["msg"] or f"not back {args['reboot_timeout']:g} s after the "
                               f"reboot ({last})")
            time.sleep(max(0.0, args["sleep"]))
        time.sleep(max(0.0, args["post_reboot_delay"]))
        test = ctx.run(args["test_command"], timeout=60)
        if not test.ok:
            return Outcome(failed=True, msg=f"back after the reboot, but {args['test_command']!r} exited "
                           f"{test.exit_code}: {test.stderr.strip()}")
        return Outcome(changed=True, msg=f"rebooted; back after {time.monotonic() - start:.0f} s",
                       data={"rebooted": True, "elapsed": round(time.monotonic() - start, 1)})


MODULE = RebootModule()
