"""Inventory hosts and groups, and how command-line patterns resolve to hosts."""

from __future__ import annotations

import difflib
import fnmatch
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from paasops.errors import InventoryError

from .values import split_port, to_bool


@dataclass
class Host:
    """One managed host: how to reach it, and its vars merged all < parents < children < host."""

    name: str
    address: str
    port: int = 22
    user: str | None = None
    key_file: str | None = None
    vars: dict = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)  # every group it is in, except `all`

    @property
    def become(self) -> bool:
        return to_bool(self.vars.get("ansible_become", False))


@dataclass
class Group:
    """A group as the inventory wrote it: its own members, child groups and vars."""

    name: str
    hosts: list[str] = field(default_factory=list)  # direct members, in definition order
    children: list[str] = field(default_factory=list)
    vars: dict = field(default_factory=dict)


class Inventory:
    """Hosts and groups; `resolve` turns command-line patterns into hosts (a name it does not know
    is taken as an address, which `warnings_for` reports)."""

    def __init__(self, hosts: Iterable[Host] = (), groups: dict[str, Group] | None = None, *,
                 source: str | None = None, all_vars: dict | None = None, base_dir: str | None = None):
        self.hosts: dict[str, Host] = {h.name: h for h in hosts}
        self.groups: dict[str, Group] = groups or {"all": Group("all"), "ungrouped": Group("ungrouped")}
        self.source = source
        self.all_vars = dict(all_vars or {})  # also apply to hosts given as addresses
        self.base_dir = base_dir

    def __len__(self) -> int:
        return len(self.hosts)

    def get(self, name: str) -> Host | None:
        return self.hosts.get(name)

    def group_hosts(self, group: str) -> list[Host]:
        """The hosts of a group and of its descendants, in inventory order."""
        return [h for h in self.hosts.values() if group == "all" or group in h.groups]

    def resolve(self, patterns: list[str]) -> list[Host]:
        """Each pattern: a host, a group, a glob (`web*`) or else an address `[user@]addr[:port]`."""
        found: dict[str, Host] = {}
        for pattern in patterns:
            for host in self._resolve_one(pattern.strip()):
                found.setdefault(host.name, host)
        return list(found.values())

    def match(self, pattern: str) -> list[Host] | None:
        """The inventory hosts a host name, group or glob (`web*`) names; None when it names none."""
        if pattern in self.hosts:
            return [self.hosts[pattern]]
        if pattern in self.groups:
            return self.group_hosts(pattern)
        if "*" in pattern or "?" in pattern:
            found = {n: h for n, h in self.hosts.items() if fnmatch.fnmatchcase(n, pattern)}
            for name in fnmatch.filter(self.groups, pattern):
                found.update((h.name, h) for h in self.group_hosts(name))
            return list(found.values()) or None
        return None

    def closest_group(self, name: str) -> str | None:
        """The group whose name is nearest to `name` (for a "did you mean"), when one is near."""
        near = difflib.get_close_matches(name, list(self.groups), n=1, cutoff=0.5)
        return near[0] if near else None

    def warnings_for(self, patterns: list[str]) -> list[str]:
        """One warning per pattern that names neither a host nor a group of this (non-empty)
        inventory and so is taken as an address, as Ansible warns; it names the closest group."""
        if not self.hosts and set(self.groups) <= {"all", "ungrouped"}:
            return []  # no inventory: every pattern is an address by design
        warnings = []
        for pattern in (p.strip() for p in patterns):
            if self.match(pattern) is not None or "*" in pattern or "?" in pattern:
                continue  # a glob matching nothing is an error of resolve()
            try:
                addr, _ = split_port(pattern.rpartition("@")[2])
            except ValueError:
                continue  # resolve() says what is wrong with it
            if addr in self.hosts or _is_ip(addr):
                continue
            near = self.closest_group(addr)
            hint = (f"; did you mean group {near!r}?" if near else
                    f"; its groups are {', '.join(g for g in self.groups if g != 'ungrouped')}")
            warnings.append(f"{pattern!r} is neither a host nor a group in {self.source or 'the inventory'}, "
                            f"so it is taken as an address{hint}")
        return warnings

    def _resolve_one(self, pattern: str) -> list[Host]:
        hosts = self.match(pattern)
        if hosts is not None:
            return hosts
        if "*" in pattern or "?" in pattern:
            raise InventoryError(f"pattern {pattern!r} matches no host or group",
                                 where=self.source or "inventory")
        user, _, rest = pattern.rpartition("@")
        try:
            addr, port = split_port(rest)
        except ValueError as exc:
            raise InventoryError(str(exc), where=pattern or "empty host pattern") from None
        overrides = {k: v for k, v in (("ansible_user", user), ("ansible_port", port)) if v}
        known = self.hosts.get(addr)
        if known:  # admin@web1 or web1:2222: an inventory host with an override
            hvars = {**known.vars, "ansible_host": known.address, **overrides}
            return [make_host(known.name, hvars, known.groups, self.base_dir, pattern)]
        return [make_host(pattern, {**self.all_vars, "ansible_host": addr, **overrides}, [],
                           self.base_dir, pattern)]


def make_host(name: str, hvars: dict, groups: list[str], base_dir: str | None, where: str) -> Host:
    """A Host from its merged vars (ansible_host, ansible_port, ansible_user, the key file)."""
    port = hvars.get("ansible_port", hvars.get("ansible_ssh_port", 22))
    try:
        port = int(port)
        if not 0 < port < 65536:
            raise ValueError
    except (TypeError, ValueError):
        raise InventoryError(f"host {name}: ansible_port must be a port number, got {port!r}",
                             where=where) from None
    key = hvars.get("ansible_ssh_private_key_file", hvars.get("ansible_private_key_file"))
    if key:
        key = os.path.expanduser(str(key))
        if base_dir and not os.path.isabs(key):
            key = os.path.normpath(os.path.join(base_dir, key))
    user = hvars.get("ansible_user", hvars.get("ansible_ssh_user"))
    address = hvars.get("ansible_host", hvars.get("ansible_ssh_host", name))
    return Host(name=name, address=str(address), port=port, user=str(user) if user else None,
                key_file=key, vars=hvars, groups=list(groups))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
