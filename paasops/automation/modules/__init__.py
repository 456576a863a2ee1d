"""The module registry: one file per module, looked up by the name a task uses."""

from __future__ import annotations

from paasops.automation.modules import (
    assert_,
    command,
    copy,
    debug,
    fail,
    file,
    package,
    reboot,
    service,
    set_fact,
    template,
    wait_for,
)
from paasops.automation.modules.base import Arg, ArgError, Module, ModuleContext, Outcome, PlanError

MODULES: dict[str, Module] = {m.name: m for m in (
    package.MODULE, file.MODULE, copy.MODULE, template.MODULE, service.MODULE,
    command.COMMAND, command.SHELL, wait_for.MODULE, fail.MODULE, assert_.MODULE,
    set_fact.MODULE, debug.MODULE, reboot.MODULE,
)}

# Playbooks written for Ansible name modules by their full name or by the apt-specific name.
ALIASES = {"apt": "package", "systemd": "service", "ansible.builtin.apt": "package",
           "ansible.builtin.systemd": "service"}


def lookup(name: str) -> Module | None:
    """The module a task key names, or None."""
    name = ALIASES.get(name, name).removeprefix("ansible.builtin.")
    return MODULES.get(ALIASES.get(name, name))


__all__ = ["MODULES", "lookup", "Arg", "ArgError", "Module", "ModuleContext", "Outcome", "PlanError"]
