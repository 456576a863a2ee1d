"""package: Debian/Ubuntu packages present or absent, through apt-get."""

from __future__ import annotations

import shlex
from typing import Any

from paasops.automation.actions import Action, Command
from paasops.automation.facts import installed_packages
from paasops.automation.modules.base import Arg, Module, ModuleContext
from paasops.errors import UnsupportedHost

APT = ("DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 "
       "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold")


def _base_name(spec: str) -> str:
    """`docker.io=20.10*` or `nginx:amd64` → the package name dpkg-query knows."""
    return spec.split("=", 1)[0].split(":", 1)[0]


class PackageModule(Module):
    name = "package"
    args = {
        "name": Arg("list", required=True),
        "state": Arg("str", choices=("present", "absent"), default="present"),
        # Refresh the index before installing; only when something is to be installed, so a
        # second run stays "ok".
        "update_cache": Arg("bool", default=False),
    }

    def gather(self, ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
        dist = ctx.host_facts.get("distribution", {})
        if dist.get("family") != "debian":
            return {"distribution": dist, "installed": {}}
        names = [_base_name(n) for n in args["name"]]
        return {"distribution": dist, "installed": ctx.fact(installed_packages(names))}

    def plan(self, args: dict[str, Any], facts: dict[str, Any]) -> list[Action]:
        dist = facts.get("distribution", {})
        if dist.get("family") != "debian":
            raise UnsupportedHost(
                f"package: only apt (Debian/Ubuntu) is supported; this host runs "
                f"{dist.get('name') or dist.get('id') or 'an unknown distribution'}")
        installed = facts.get("installed", {})
        if args["state"] == "present":
            missing = [n for n in args["name"] if _base_name(n) not in installed]
            if not missing:
                return []
            actions: list[Action] = [Command(f"{APT} update")] if args["update_cache"] else []
            quoted = " ".join(shlex.quote(n) for n in missing)
            change = (f"not installed: {' '.join(missing)}", f"installed: {' '.join(missing)}")
            return actions + [Command(f"{APT} install {quoted}", change=change)]
        present = [n for n in args["name"] if _base_name(n) in installed]
        if not present:
            return []
        quoted = " ".join(shlex.quote(_base_name(n)) for n in present)
        change = (f"installed: {' '.join(present)}", f"removed: {' '.join(present)}")
        return [Command(f"{APT} remove {quoted}", change=change)]


MODULE = PackageModule()
