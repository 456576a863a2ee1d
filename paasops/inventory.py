"""Ansible-compatible inventories (INI and YAML) parsed into hosts with their merged variables."""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import shlex
import string
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from paasops.errors import InventoryError

YAML_EXTS = (".yml", ".yaml", ".json")
# What Ansible skips in an inventory directory (INVENTORY_IGNORE_EXTS).
IGNORED_EXTS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg",
                ".retry")
_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
_RANGE = re.compile(r"\[([^\[\]]*)\]")
_NULL = "tag:yaml.org,2002:null"


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
    name: str
    hosts: list[str] = field(default_factory=list)  # direct members, in definition order
    children: list[str] = field(default_factory=list)
    vars: dict = field(default_factory=dict)


def to_bool(value) -> bool:
    """Ansible's truthiness of a variable such as ansible_become ("yes", "1", "true", True)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "y", "yes", "on", "true", "t")
    return bool(value)


def parse_value(raw: str):
    """An INI value as Ansible reads it (Python literals), plus true/false/yes/no as booleans."""
    text = raw.strip()
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        lowered = text.lower()
        return True if lowered in ("true", "yes") else False if lowered in ("false", "no") else text
    if isinstance(value, complex) or value is Ellipsis:
        return text
    return list(value) if isinstance(value, (tuple, set, frozenset)) else value


def split_port(pattern: str) -> tuple[str, int | None]:
    """`host:port`, `[v6addr]:port`, a bare IPv6 address or `web[01:03]:2222` -> (host, port)."""
    depth, colons = 0, []
    for i, ch in enumerate(pattern):
        depth += (ch == "[") - (ch == "]")
        if ch == ":" and depth == 0:
            colons.append(i)
    if depth != 0:
        raise ValueError(f"unbalanced brackets in host pattern {pattern!r}")
    host, port = pattern, None
    if len(colons) == 1:  # two or more colons outside brackets: a bare IPv6 address
        host, port_text = pattern[:colons[0]], pattern[colons[0] + 1:]
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"invalid port {port_text!r} in host pattern {pattern!r}")
        port = int(port_text)
    if host.startswith("[") and host.endswith("]") and host.count(":") >= 2:
        host = host[1:-1]
    if not host:
        raise ValueError(f"empty host name in {pattern!r}")
    return host, port


def expand_range(pattern: str) -> list[str]:
    """Ansible host ranges: web[01:03] -> web01 web02 web03; also db-[a:c] and n[0:10:5]."""
    m = _RANGE.search(pattern)
    if not m or ":" not in m.group(1):
        return [pattern]
    bounds = m.group(1).split(":")
    try:
        if len(bounds) not in (2, 3) or not bounds[1]:
            raise ValueError
        beg, end, step = bounds[0] or "0", bounds[1], int(bounds[2]) if len(bounds) == 3 else 1
        letters = string.ascii_letters
        if beg in letters and end in letters:
            items = list(letters[letters.index(beg):letters.index(end) + 1:step])
        else:
            width = len(beg) if beg.startswith("0") and len(beg) > 1 else 0
            if width and len(end) != width:
                raise ValueError
            items = [str(n).zfill(width) for n in range(int(beg), int(end) + 1, step)]
        if not items:
            raise ValueError
    except ValueError:
        raise ValueError(f"invalid host range [{m.group(1)}] in {pattern!r} "
                         "(expected [begin:end] or [begin:end:step], begin <= end)") from None
    tails = expand_range(pattern[m.end():])
    return [pattern[:m.start()] + item + tail for item in items for tail in tails]


class Inventory:
    """Hosts and groups; `resolve` turns command-line patterns into hosts (unknown = an address)."""

    def __init__(self, hosts: list[Host] = (), groups: dict[str, Group] | None = None, *,
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

    def _resolve_one(self, pattern: str) -> list[Host]:
        if pattern in self.hosts:
            return [self.hosts[pattern]]
        if pattern in self.groups:
            return self.group_hosts(pattern)
        if "*" in pattern or "?" in pattern:
            hosts = [h for n, h in self.hosts.items() if fnmatch.fnmatchcase(n, pattern)]
            for name in fnmatch.filter(self.groups, pattern):
                hosts += self.group_hosts(name)
            if not hosts:
                raise InventoryError(f"pattern {pattern!r} matches no host or group",
                                     where=self.source or "inventory")
            return hosts
        user, _, rest = pattern.rpartition("@")
        try:
            addr, port = split_port(rest)
        except ValueError as exc:
            raise InventoryError(str(exc), where=pattern or "empty host pattern") from None
        overrides = {k: v for k, v in (("ansible_user", user), ("ansible_port", port)) if v}
        known = self.hosts.get(addr)
        if known:  # admin@web1 or web1:2222: an inventory host with an override
            hvars = {**known.vars, "ansible_host": known.address, **overrides}
            return [_make_host(known.name, hvars, known.groups, self.base_dir, pattern)]
        return [_make_host(pattern, {**self.all_vars, "ansible_host": addr, **overrides}, [],
                           self.base_dir, pattern)]


def _make_host(name: str, hvars: dict, groups: list[str], base_dir: str | None, where: str) -> Host:
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


class _Builder:
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
            merged.update(own)
            merged.update(self.file_host_vars.get(name, {}))
            hosts.append(_make_host(name, merged, sorted(member_of[name]), base_dir, self.host_where[name]))
        all_vars = {**groups["all"].vars, **self.file_group_vars.get("all", {})}
        return Inventory(hosts, groups, source=source, all_vars=all_vars, base_dir=base_dir)


def _priority(group: Group) -> int:
    try:
        return int(group.vars.get("ansible_group_priority", 1))
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


def _parse_ini_into(b: _Builder, text: str, source: str) -> None:
    group, state = "ungrouped", "hosts"
    pending: dict[str, tuple[str, str]] = {}  # group -> (where, what) until it is defined
    for lineno, raw in enumerate(text.splitlines(), 1):
        where, line = f"{source}:{lineno}", raw.strip()
        if not line or line[0] in "#;":
            continue
        m = _SECTION.match(line)
        if m:
            group, state = m.group(1), m.group(2) or "hosts"
            if state not in ("hosts", "children", "vars"):
                raise InventoryError(f"section [{group}:{state}] has unknown type {state!r}; "
                                     "expected [group], [group:children] or [group:vars]", where=where)
            if state == "vars" and group not in b.defined:
                pending.setdefault(group, (where, f"section [{group}:vars] is for"))
            b.group(group, define=state != "vars")
        elif line.startswith("[") and line.endswith("]"):
            raise InventoryError(f"invalid section header {line!r} (no spaces; at most one ':')",
                                 where=where)
        elif state == "vars":
            key, eq, value = line.partition("=")
            if not eq or not key.strip():
                raise InventoryError(f"expected key=value in [{group}:vars], got {line!r}", where=where)
            b.groups[group].vars[key.strip()] = parse_value(value)
        elif state == "children":
            m = _GROUP_NAME.match(line)
            if not m:
                raise InventoryError(f"expected a group name in [{group}:children], got {line!r}",
                                     where=where)
            pending.setdefault(m.group(1), (where, f"[{group}:children] names"))
            b.add_child(group, m.group(1), where)
            b.group(m.group(1), define=False)
        else:
            _parse_host_line(b, group, line, where)
    for name, (where, what) in pending.items():
        if name not in b.defined:
            raise InventoryError(f"{what} undefined group {name!r}", where=where)


def _parse_host_line(b: _Builder, group: str, line: str, where: str) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise InventoryError(f"cannot parse host line {line!r}: {exc}", where=where) from None
    hvars = {}
    for token in tokens[1:]:
        key, eq, value = token.partition("=")
        if not eq or not key:
            raise InventoryError(f"expected key=value host variable, got {token!r}", where=where)
        hvars[key] = parse_value(value)
    for name, port in _expand_pattern(tokens[0], where) if tokens else []:
        b.add_host(group, name, port, hvars, where)


def _expand_pattern(pattern: str, where: str) -> list[tuple[str, int | None]]:
    try:
        host, port = split_port(pattern)
        return [(name, port) for name in expand_range(host)]
    except ValueError as exc:
        raise InventoryError(str(exc), where=where) from None


def _compose(text: str, source: str):
    """The YAML node tree (nodes know their line) and the loader that builds values from nodes."""
    loader = yaml.SafeLoader(text)
    try:
        return loader.get_single_node(), loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InventoryError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}",
                             where=f"{source}:{mark.line + 1}" if mark else source) from None


def _entries(loader, node, path: str, where: str, what: str) -> list:
    """(key, line, value node) of a mapping node; null is an empty mapping, anything else an error."""
    if node is None or node.tag == _NULL:
        return []
    if not isinstance(node, yaml.MappingNode):
        got = "a list" if isinstance(node, yaml.SequenceNode) else repr(node.value)
        raise InventoryError(f"{path}: expected {what}, got {got}", where=where)
    loader.flatten_mapping(node)  # YAML merge keys (<<)
    return [(str(k.value), k.start_mark.line + 1, v) for k, v in node.value]


def _parse_yaml_into(b: _Builder, text: str, source: str) -> None:
    root, loader = _compose(text, source)
    for name, line, body in _entries(loader, root, "top level", f"{source}:1", "a mapping of groups"):
        _yaml_group(b, loader, name, body, name, source, line)


def _yaml_group(b: _Builder, loader, name: str, node, path: str, source: str, line: int) -> None:
    b.group(name)
    for key, kline, value in _entries(loader, node, path, f"{source}:{line}",
                                      "a mapping of hosts, children and vars"):
        kpath, kwhere = f"{path}.{key}", f"{source}:{kline}"
        if key not in ("hosts", "children", "vars"):
            raise InventoryError(f"{kpath}: unknown key; a group has only hosts, children and vars",
                                 where=kwhere)
        if key == "hosts" and isinstance(value, yaml.ScalarNode) and value.tag != _NULL:
            entries = [(value.value, kline, None)]  # Ansible accepts `hosts: web1`
        else:
            entries = _entries(loader, value, kpath, kwhere, "a mapping")
        if key == "vars":
            b.groups[name].vars.update(loader.construct_document(value) or {})
            continue
        for sub, sline, subnode in entries:
            spath, swhere = f"{kpath}.{sub}", f"{source}:{sline}"
            if key == "children":
                b.add_child(name, sub, swhere)
                _yaml_group(b, loader, sub, subnode, spath, source, sline)
                continue
            hvars = {} if subnode is None else loader.construct_document(subnode)
            if not isinstance(hvars, dict | None):
                raise InventoryError(f"{spath}: host variables must be a mapping, got {hvars!r}",
                                     where=swhere)
            for hname, port in _expand_pattern(sub, swhere):
                b.add_host(name, hname, port, hvars or {}, swhere)


def _looks_like_yaml(text: str, source: str) -> bool:
    ext = os.path.splitext(source)[1].lower()
    if ext in YAML_EXTS + (".ini",):
        return ext != ".ini"
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")):
            return line.startswith(("---", "{")) or bool(re.match(r"^[^\s=\[]+:\s*(#.*)?$", line))
    return False


def _parse_into(b: _Builder, text: str, source: str, fmt: str | None = None) -> None:
    is_yaml = _looks_like_yaml(text, source) if fmt is None else fmt == "yaml"
    (_parse_yaml_into if is_yaml else _parse_ini_into)(b, text, source)


def parse_inventory(text: str, source: str = "<inventory>", base_dir: str | None = None, *,
                    fmt: str | None = None) -> Inventory:
    """Parse an inventory; `fmt` is "ini" or "yaml", else chosen by `source`'s extension or the text.

    Errors name `source:LINE` (and, for YAML, the key path). Relative key files resolve
    against `base_dir`.
    """
    b = _Builder()
    _parse_into(b, text, source, fmt)
    return b.build(source, base_dir)


def parse_ini(text: str, source: str = "<inventory>", base_dir: str | None = None) -> Inventory:
    return parse_inventory(text, source, base_dir, fmt="ini")


def parse_yaml(text: str, source: str = "<inventory>", base_dir: str | None = None) -> Inventory:
    return parse_inventory(text, source, base_dir, fmt="yaml")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"cannot read: {exc}", where=str(path)) from None


def _load_vars_dir(directory: Path, names, into: dict[str, dict]) -> None:
    """group_vars/NAME[.yml|.yaml|.json], or every YAML file under group_vars/NAME/."""
    for name in names:
        for candidate in [directory / name] + [directory / (name + ext) for ext in YAML_EXTS]:
            files = [candidate] if candidate.is_file() else sorted(
                p for p in candidate.rglob("*") if p.is_file() and not p.name.startswith(".")
                and p.suffix in YAML_EXTS + ("",)) if candidate.is_dir() else []
            for path in files:
                root, loader = _compose(_read(path), str(path))
                data = loader.construct_document(root) if root is not None else None
                if not isinstance(data, dict | None):
                    raise InventoryError(f"expected a mapping of variables, got {type(data).__name__}",
                                         where=str(path))
                into.setdefault(name, {}).update(data or {})


def load_inventory(path: str | os.PathLike | None, *, missing_ok: bool = False) -> Inventory:
    """Read an inventory file, or a directory of them, with its group_vars/ and host_vars/.

    None gives an empty inventory, in which every pattern is taken as an address; so does a
    path that does not exist when `missing_ok`, else that is an InventoryError.
    """
    if path is None:
        return Inventory()
    path = Path(path).expanduser()
    if not path.exists():
        if missing_ok:
            return Inventory(source=str(path))
        raise InventoryError("no such inventory file or directory", where=str(path))
    base = path if path.is_dir() else path.parent
    files = [path] if path.is_file() else [
        f for f in sorted(path.iterdir())
        if f.is_file() and not f.name.startswith(".") and not f.name.endswith(IGNORED_EXTS)]
    b = _Builder()
    for file in files:
        text = _read(file)
        if text.startswith("#!"):
            raise InventoryError("dynamic inventory scripts are not supported", where=str(file))
        _parse_into(b, text, str(file))
    _load_vars_dir(base / "group_vars", list(b.groups), b.file_group_vars)
    _load_vars_dir(base / "host_vars", list(b.host_vars), b.file_host_vars)
    return b.build(str(path), str(base.resolve()))
