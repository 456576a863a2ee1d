"""wait_for: wait, on the host, until a TCP port answers (or closes) or a path exists (or not)."""

from __future__ import annotations

import shlex
from typing import Any

from paasops.automation.modules.base import Arg, ArgError, Module, ModuleContext, Outcome

# Runs on the managed host (python3 is all we assume there); polls so one round trip suffices.
_SCRIPT = """
import os, socket, sys, time
host, port, path, state = sys.argv[1], int(sys.argv[2] or 0), sys.argv[3], sys.argv[4]
timeout, delay, pause = float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
def up():
    if path:
        return os.path.exists(path)
    try:
        socket.create_connection((host, port), timeout=min(pause, 5) or 1).close()
        return True
    except OSError:
        return False
time.sleep(delay)
end = time.time() + timeout
want = state in ("started", "present")
while up() != want:
    if time.time() >= end:
        sys.exit(1)
    time.sleep(pause)
"""


_STATE_WORDS = {
    False: {"started": "open", "present": "open", "stopped": "closed", "absent": "closed"},
    True: {"started": "present", "present": "present", "stopped": "absent", "absent": "absent"},
}


def wait_command(args: dict[str, Any]) -> str:
    argv = [args["host"], str(args["port"] or ""), args["path"] or "", args["state"],
            str(args["timeout"]), str(args["delay"]), str(args["sleep"])]
    return "python3 -c " + shlex.quote(_SCRIPT) + " " + " ".join(shlex.quote(a) for a in argv)


class WaitForModule(Module):
    name = "wait_for"
    args = {
        "host": Arg("str", default="127.0.0.1"),
        "port": Arg("int"),
        "path": Arg("str"),
        "state": Arg("str", choices=("started", "stopped", "present", "absent"), default="started"),
        "timeout": Arg("float", default=60.0),
        "delay": Arg("float", default=0.0),
        "sleep": Arg("float", default=1.0),
        "msg": Arg("str"),
    }

    def check(self, args: dict[str, Any], *, partial: bool) -> None:
        if (args["port"] is None) == (args["path"] is None):
            raise ArgError("exactly one of fields 'port' and 'path' is required")

    def execute(self, ctx: ModuleContext, args: dict[str, Any]) -> Outcome:
        what = args["path"] or f"{args['host']}:{args['port']}"
        if ctx.check:
            return Outcome(skipped=True, msg=f"check mode: would wait for {what}")
        result = ctx.run(wait_command(args), timeout=args["delay"] + args["timeout"] + 30)
        if result.ok:
            return Outcome(msg=f"{what} is {_STATE_WORDS[bool(args['path'])][args['state']]}")
        detail = result.stderr.strip().splitlines()[-1:] if result.exit_code != 1 else []
        msg = args["msg"] or f"timeout after {args['timeout']:g}s waiting for {what} to be {args['state']}"
        return Outcome(failed=True, msg=msg + (f" ({detail[0]})" if detail else ""))


MODULE = WaitForModule()
