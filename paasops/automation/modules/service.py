"""service: started/stopped/restarted and enabled, via systemd or a pidfile supervisor."""

from __future__ import annotations

import shlex
from typing import Any

from paasops.automation.actions import Action, Command
from paasops.automation.facts import alive, pidfile, supervised_process, systemd_unit
from paasops.automation.modules.base import Arg, ArgError, Module, ModuleContext, PlanError

LOG_DIR = "/var/log/paasops"


def start_command(name: str, command: str) -> str:
    """Start `command` detached in its own session, record its pid, check it is still alive."""
    pid, log = shlex.quote(pidfile(name)), shlex.quote(f"{LOG_DIR}/{name}.log")
    # setsid makes the process its own group leader, so stop can signal the whole group.
    return (f"mkdir -p /run/paasops {LOG_DIR} || exit 1; cd /; "
            f"nohup setsid /bin/sh -c {shlex.quote(command)} >>{log} 2>&1 </dev/null & "
            f"echo $! > {pid}; sleep 1; "
            f"{alive(f'$(cat {pid})')} || "
            f"{{ echo {shlex.quote(name)} exited right after start: >&2; tail -n 5 {log} >&2; "
            f"rm -f {pid}; exit 1; }}")


def stop_command(name: str) -> str:
    """TERM the process group, wait up to 10 s, then KILL; remove the pidfile."""
    pid = shlex.quote(pidfile(name))
    # dash's kill takes no `--`: `kill -TERM -PID` signals the group.
    return (f'p="$(cat {pid})"; kill -TERM "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null; '
            f'i=0; while {alive("$p")} && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done; '
            f'{alive("$p")} && kill -KILL "-$p" 2>/dev/null; rm -f {pid}; true')


class ServiceModule(Module):
    name = "service"
    args = {
        "name": Arg("str", required=True),
        "state": Arg("str", choices=("started", "stopped", "restarted")),
        "enabled": Arg("bool"),
        "daemon_reload": Arg("bool", default=False),
        # Without systemd: the foreground command the fallback supervisor runs.
        "command": Arg("str"),
    }

    def check(self, args: dict[str, Any], *, partial: bool) -> None:
        if args["state"] is None and args["enabled"] is None and not args["daemon_reload"]:
            raise ArgError("one of fields 'state', 'enabled' or 'daemon_reload' is required")

    def gather(self, ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
        if ctx.host_facts.get("init") == "systemd":
            return {"init": "systemd", "unit": ctx.fact(systemd_unit(args["name"]))}
        return {"init": "other", "process": ctx.fact(supervised_process(args["name"]))}

    def plan(self, args: dict[str, Any], facts: dict[str, Any]) -> list[Action]:
        if facts["init"] == "systemd":
            return self._plan_systemd(args, facts["unit"])
        return self._plan_supervised(args, facts["process"])

    def _plan_systemd(self, args: dict[str, Any], unit: dict[str, Any]) -> list[Action]:
        name, state, enabled = args["name"], args["state"], args["enabled"]
        q = shlex.quote(name)
        wants_unit = state in ("started", "restarted") or enabled is not None
        actions: list[Action] = []
        # A changed unit file (NeedDaemonReload) or a unit systemd has not seen yet.
        if unit["need_reload"] or (not unit["exists"] and (wants_unit or args["daemon_reload"])):
            actions.append(Command("systemctl daemon-reload", change=("units: stale", "units: reloaded")))
        if enabled is True and not unit["enabled"]:
            actions.append(Command(f"systemctl enable {q}", change=(f"{name}: disabled", f"{name}: enabled")))
        elif enabled is False and unit["enabled"] and unit["unit_file_state"] != "static":
            actions.append(Command(f"systemctl disable {q}", change=(f"{name}: enabled", f"{name}: disabled")))
        # reset-failed: a unit that failed often hits systemd's start limit and would refuse to start
        reset = f"systemctl reset-failed {q} 2>/dev/null; "
        if state == "started" and not unit["active"]:
            actions.append(Command(reset + f"systemctl start {q}", change=(f"{name}: stopped", f"{name}: running")))
        elif state == "stopped" and unit["active"]:
            actions.append(Command(f"systemctl stop {q}", change=(f"{name}: running", f"{name}: stopped")))
        elif state == "restarted":
            actions.append(Command(reset + f"systemctl restart {q}", change=(f"{name}: running", f"{name}: restarted")))
        # daemon_reload: reload before acting, also when systemd does not notice the change itself
        # (a drop-in directory created after the unit was loaded).
        if args["daemon_reload"] and actions and not any(a.cmd == "systemctl daemon-reload"
                                                         for a in actions if isinstance(a, Command)):
            actions.insert(0, Command("systemctl daemon-reload", change=("units: stale", "units: reloaded")))
        return actions

    def _plan_supervised(self, args: dict[str, Any], process: dict[str, Any]) -> list[Action]:
        name, state, command = args["name"], args["state"], args["command"]
        running = process["running"]
        needs_start = state == "restarted" or (state == "started" and not running)
        if needs_start and not command:
            raise PlanError(f"PID 1 is not systemd: service {name!r} needs a 'command' argument "
                            "for the fallback supervisor")
        actions: list[Action] = []
        if running and state in ("stopped", "restarted"):
            actions.append(Command(stop_command(name), change=(f"{name}: running", f"{name}: stopped")))
        if needs_start:
            after = "restarted" if state == "restarted" else "running"
            actions.append(Command(start_command(name, command), timeout=30,
                                   change=(f"{name}: {'running' if running else 'stopped'}", f"{name}: {after}")))
        # `enabled` has no meaning without an init system to start things at boot.
        return actions


MODULE = ServiceModule()
