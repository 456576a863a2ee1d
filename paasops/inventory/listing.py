"""What an inventory resolves to, shaped like `ansible-inventory --list` and `--graph` (pure)."""

from __future__ import annotations

from paasops.errors import InventoryError

from .model import Inventory


def children_of(inv: Inventory, group: str) -> list[str]:
    """A group's child groups in Ansible's order; `all` has `ungrouped` first, then the groups it
    names, then every group that no other group names, in the order the inventory defined them."""
    if group != "all":
        return list(inv.groups[group].children)
    named = {child for g in inv.groups.values() for child in g.children}
    top = ["ungrouped", *inv.groups["all"].children,
           *(g for g in inv.groups if g not in ("all", "ungrouped") and g not in named)]
    return list(dict.fromkeys(top))


def ansible_list(inv: Inventory, pattern: str | None = None) -> dict:
    """`ansible-inventory --list` (with `--limit PATTERN` when given): each group's hosts and
    children (groups left empty are left out), and each host's merged vars under `_meta`."""
    hosts = list(inv.hosts.values())
    if pattern:
        matched = inv.match(pattern)
        if matched is None:
            raise InventoryError(f"{pattern!r} is neither a host nor a group{_hint(inv, pattern)}",
                                 where=inv.source or "inventory")
        hosts = matched
    shown = {h.name for h in hosts}
    result: dict = {}
    seen: set[str] = set()

    def visit(name: str) -> None:
        entry: dict = {}
        members = [h for h in inv.groups[name].hosts if h in shown] if name != "all" else []
        children = children_of(inv, name)
        if members:
            entry["hosts"] = members
        if children:
            entry["children"] = children
        if entry:
            result[name] = entry
        for child in children:
            if child not in seen:  # a group under two parents is listed once
                seen.add(child)
                visit(child)

    visit("all")
    result["_meta"] = {"hostvars": {h.name: h.vars for h in hosts if h.vars}}
    return result


def ansible_graph(inv: Inventory, group: str = "all") -> str:
    """`ansible-inventory --graph GROUP`: the tree of groups (`@name:`) and their hosts."""
    if group not in inv.groups:
        raise InventoryError(f"{group!r} is not a group (a graph starts at a group){_hint(inv, group)}",
                             where=inv.source or "inventory")
    lines: list[str] = []

    def visit(name: str, depth: int) -> None:
        lines.append(_indent(f"@{name}:", depth))
        for child in children_of(inv, name):
            visit(child, depth + 1)
        if name != "all":
            lines.extend(_indent(host, depth + 1) for host in inv.groups[name].hosts)

    visit(group, 0)
    return "\n".join(lines)


def _indent(name: str, depth: int) -> str:
    return "  |" * depth + "--" + name if depth else name


def _hint(inv: Inventory, name: str) -> str:
    near = inv.closest_group(name)
    return f"; did you mean group {near!r}?" if near else ""
