"""Collects groups and hosts from inventory sources, then merges each host's vars as Ansible does."""

from __future__ import annotations

from paasops.errors import InventoryError

from .model import Group, Inventory, make_host

PRIORITY = "ansible_group_priority"


class Builder:
    """Collects groups and hosts from one or more sources, then merges each host's vars."""

    def __init__(self):
        self.groups: dict[str, Group] = {"all": Group("all"), "ungrouped": Group("ungrouped")}
        self.defined = {"all", "ungrouped"}  # named by a [group] or [group:children] header
        self.host_vars: dict[str, dict] = {}
        self.host_where: dict[str, str] = {}
        self.file_group_vars: dict[str, dict] = {}  # group_vars/ beside the inventory
        self.file_host_vars: dict[str, dict] = {}  # host_vars/ beside the inventory

    def group(self, name: str, *, define: bool = True) -> Group:
        if define:
            self.defined.add(name)
        return self.groups.setdefault(name, Group(name))

    def add_host(self, group: str, name: str, port: int | None, hvars: dict, where: str) -> None:
        if "=" in name:
            raise InventoryError(f"expected a host name before the variables, got {name!r}", where=where)
        members = self.group(group).hosts
        if name not in members:
            members.append(name)
        self.host_where.setdefault(name, where)
        own = self.host_vars.setdefault(name, {})
        if port is not None:
            own["ansible_port"] = port
        own.update(hvars)

    def add_child(self, parent: str, child: str, where: str) -> None:
        if child in ("all", parent):
            raise InventoryError(f"group {child!r} cannot be a child of {parent!r}", where=where)
        children = self.group(parent).children
        if child not in children:
            children.append(child)

    def build(self, source: str | None, base_dir: str | None) -> Inventory:
        groups = self.groups
        parents: dict[str, list[str]] = {name: [] for name in groups}
        for g in groups.values():
            for child in g.children:
                parents[child].append(g.name)
        for name in groups:
            if name != "all" and not parents[name]:
                parents[name].append("all")
        depth, ancestors = _hierarchy(parents, source)
        member_of: dict[str, set[str]] = {h: set() for h in self.host_vars}
        for g in groups.values():
            for h in g.hosts:
                member_of[h] |= {g.name} | ancestors[g.name]
        # Like Ansible: ungrouped holds exactly the hosts in no other group.
        groups["ungrouped"].hosts = [h for h, m in member_of.items() if not m - {"all", "ungrouped"}]
        for h in member_of:
            member_of[h] = member_of[h] - {"all", "ungrouped"} or {"ungrouped"}
        ordered = sorted(groups, key=lambda n: (depth[n], _priority(groups[n]), n))
        hosts = []
        for name, own in self.host_vars.items():
            mine = [g for g in ordered if g == "all" or g in member_of[name]]
            merged: dict = {}
            # Ansible's precedence: inventory group vars < group_vars/all < group_vars/* <
            # inventory host vars < host_vars/*.
            for layer in (groups[g].vars for g in mine), (self.file_group_vars.get(g, {}) for g in mine):
                for gvars in layer:
                    merged.update(gvars)
            merged.pop(PRIORITY, None)  # Ansible's group ordering, not a variable of the host
            merged.update(own)
            merged.update(self.file_host_vars.get(name, {}))
            hosts.append(make_host(name, merged, sorted(member_of[name]), base_dir, self.host_where[name]))
        all_vars = {**groups["all"].vars, **self.file_group_vars.get("all", {})}
        return Inventory(hosts, groups, source=source, all_vars=all_vars, base_dir=base_dir)


def _priority(group: Group) -> int:
    try:
        return int(group.vars.get(PRIORITY, 1))
    except (TypeError, ValueError):
        raise InventoryError(f"group {group.name}: ansible_group_priority must be an integer") from None


def _hierarchy(parents: dict[str, list[str]], source: str | None):
    """Each group's depth below `all` (its longest path) and its ancestors; a cycle is an error."""
    depth: dict[str, int] = {"all": 0}
    ancestors: dict[str, set[str]] = {"all": set()}

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = " -> ".join(path[path.index(name):] + [name])
            raise InventoryError(f"groups form a cycle: {cycle}", where=source)
        if name in depth:
            return
        for p in parents[name]:
            visit(p, path + [name])
        depth[name] = 1 + max(depth[p] for p in parents[name])
        ancestors[name] = set(parents[name]).union(*(ancestors[p] for p in parents[name]))

    for name in parents:
        visit(name, [])
    return depth, ancestors
