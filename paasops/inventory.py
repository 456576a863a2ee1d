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
# Files Ansible skips when an inventory is a directory (INVENTORY_IGNORE_EXTS).
IGNORED_EXTS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg",
                ".retry")
_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
_RANGE = re.compile(r"\[([^\[\]]*)\]")
_TRUE, _FALSE = ("true", "yes"), ("false", "no")


@dataclass
class Host:
    """One managed host: how to reach it and its variables (all < parents < children < host)."""

    name: str
    address: str
    port: int = 22
    user: str | None = None
    key_file: str | None = None
    vars: dict = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)

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
    """Ansible's truthiness for variables such as ansible_become ("yes", "1", "true", True)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "y", "yes", "on", "true", "t")
    return bool(value)


def parse_value(raw: str):
    """An INI value as Ansible reads it: Python literals, true/false/yes/no, else the string."""
    text = raw.strip()
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        lowered = text.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else text
    if isinstance(value, complex) or value is Ellipsis:
        return text
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    return value


def split_port(pattern: str) -> tuple[str, int | None]:
    """`host:port`, `[v6addr]:port`, bare IPv6 and host ranges (`web[01:03]:2222`) -> (host, port)."""
    depth, colons = 0, []
    for i, ch in enumerate(pattern):
        depth += ch == "["
        depth -= ch == "]"
        if ch == ":" and depth == 0:
            colons.append(i)
    if depth != 0:
        raise ValueError(f"unbalanced brackets in host pattern {pattern!r}")
    host, port = pattern, None
    if len(colons) == 1:  # more than one colon outside brackets is a bare IPv6 address
        host, port_text = pattern[:colons[0]], pattern[colons[0] + 1:]
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"invalid port {port_text!r} in host pattern {pattern!r}"
                             + (" (':' is reserved for a port)" if not port_text else ""))
        port = int(port_text)
    if host.startswith("[") and host.endswith("]") and host.count(":") >= 2:
        host = host[1:-1]
    if not host:
        raise ValueError(f"empty host name in {pattern!r}")
    return host, port


def expand_range(pattern: str) -> list[str]:
    """Expand Ansible host ranges: web[01:03] -> web01 web02 web03, db-[a:c], n[0:10:5]."""
    m = _RANGE.search(pattern)
    if not m or ":" not in m.group(1):
        return [pattern]
    bounds = m.group(1).split(":")
    if len(bounds) not in (2, 3) or not bounds[1]:
        raise ValueError(f"host range [{m.group(1)}] must be [begin:end] or [begin:end:step]")
    beg, end = bounds[0] or "0", bounds[1]
    try:
        step = int(bounds[2]) if len(bounds) == 3 else 1
        if step < 1:
            raise ValueError
        if beg in string.ascii_letters and end in string.ascii_letters:
            i, j = string.ascii_letters.index(beg), string.ascii_letters.index(end)
            if i > j:
                raise ValueError
            items = list(string.ascii_letters[i:j + 1:step])
        else:
            width = len(beg) if beg.startswith("0") and len(beg) > 1 else 0
            if width and len(end) != width:
                raise ValueError
            if int(beg) > int(end):
                raise ValueError
            items = [str(n).zfill(width) for n in range(int(beg), int(end) + 1, step)]
    except ValueError:
        raise ValueError(f"invalid host range [{m.group(1)}] in {pattern!r}") from None
    head, tail = pattern[:m.start()], pattern[m.end():]
    return [head + item + rest for item in items for rest in expand_range(tail)]


class Inventory:
    """Hosts and groups; `resolve` turns command-line patterns into hosts (unknown = an address)."""

    def __init__(self, hosts: list[Host] = (), groups: dict[str, Group] | None = None, *,
                 source: str | None = None, all_vars: dict | None = None, base_dir: str | None = None):
        self.hosts: dict[str, Host] = {h.name: h for h in hosts}
        self.groups: dict[str, Group] = groups or {"all": Group("all"), "ungrouped": Group("ungrouped")}
        self.source = source
        self.all_vars = dict(all_vars or {})
        self.base_dir = base_dir

    def __len__(self) -> int:
        return len(self.hosts)

    def get(self, name: str) -> Host | None:
        return self.hosts.get(name)

    def group_hosts(self, group: str) -> list[Host]:
        """Hosts of a group and of its descendants, in inventory order."""
        return [h for h in self.hosts.values() if group == "all" or group in h.groups]

    def resolve(self, patterns: list[str]) -> list[Host]:
        """Each pattern: a host, a group, a glob (`web*`) or an address `[user@]addr[:port]`."""
        found: dict[str, Host] = {}
        for pattern in patterns:
            for host in self._resolve_one(pattern.strip()):
                found.setdefault(host.name, host)
        return list(found.values())

    def _resolve_one(self, pattern: str) -> list[Host]:
        if not pattern:
            raise InventoryError("empty host pattern", where=self.source)
        if pattern in self.hosts:
            return [self.hosts[pattern]]
        if pattern in self.groups:
            return self.group_hosts(pattern)
        if "*" in pattern or "?" in pattern:
            hosts = [h for n, h in self.hosts.items() if fnmatch.fnmatchcase(n, pattern)]
            for name in self.groups:
                if fnmatch.fnmatchcase(name, pattern):
                    hosts += self.group_hosts(name)
            if not hosts:
                raise InventoryError(f"pattern {pattern!r} matches no host or group",
                                     where=self.source or "inventory")
            return hosts
        user, _, rest = pattern.rpartition("@")
        try:
            addr, port = split_port(rest)
        except ValueError as exc:
            raise InventoryError(str(exc), where=pattern) from None
        known = self.hosts.get(addr)
        overrides = {k: v for k, v in (("ansible_user", user), ("ansible_port", port)) if v}
        if known:  # admin@web1 or web1:2222: an inventory host with an override
            return [_make_host(pattern, {**known.vars, **overrides}, known.groups, self.base_dir, pattern)]
        host_vars = {**self.all_vars, "ansible_host": addr, **overrides}
        return [_make_host(pattern, host_vars, [], self.base_dir, pattern)]


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
    """Accumulates groups and hosts from one or more sources, then computes the merged vars."""

    def __init__(self):
        self.groups: dict[str, Group] = {"all": Group("all"), "ungrouped": Group("ungrouped")}
        self.defined = {"all", "ungrouped"}
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
        g = self.group(group)
        if name not in g.hosts:
            g.hosts.append(name)
        self.host_where.setdefault(name, where)
        merged = self.host_vars.setdefault(name, {})
        if port is not None:
            merged["ansible_port"] = port
        merged.update(hvars)

    def add_child(self, parent: str, child: str, where: str) -> None:
        if child == "all" or child == parent:
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
        member_of: dict[str, set[str]] = {h: set() for h in self.host_vars}
        for g in groups.values():
            for h in g.hosts:
                member_of[h].add(g.name)
        ungrouped = groups["ungrouped"]
        ungrouped.hosts = [h for h in self.host_vars if not member_of[h] - {"all", "ungrouped"}]
        for h in self.host_vars:
            member_of[h].discard("all")
            member_of[h].discard("ungrouped")
            if h in ungrouped.hosts:
                member_of[h].add("ungrouped")
        for name in groups:
            if name != "all" and not parents[name]:
                parents[name].append("all")
        depth = _depths(parents, source)
        ancestors = {name: _ancestors(name, parents) for name in groups}

        def order(names):
            return sorted(names, key=lambda n: (depth[n], _priority(groups[n]), n))

        all_vars = {**groups["all"].vars, **self.file_group_vars.get("all", {})}
        hosts = []
        for name, own_vars in self.host_vars.items():
            names = set(member_of[name])
            for g in list(names):
                names |= ancestors[g]
            merged: dict = {}
            for g in order(names | {"all"}):
                merged.update(groups[g].vars)
            for g in order(names | {"all"}):
                merged.update(self.file_group_vars.get(g, {}))
            merged.update(own_vars)
            merged.update(self.file_host_vars.get(name, {}))
            hosts.append(_make_host(name, merged, sorted(names - {"all"}), base_dir,
                                    self.host_where[name]))
        return Inventory(hosts, groups, source=source, all_vars=all_vars, base_dir=base_dir)


def _priority(group: Group) -> int:
    try:
        return int(group.vars.get("ansible_group_priority", 1))
    except (TypeError, ValueError):
        raise InventoryError(f"group {group.name}: ansible_group_priority must be an integer") from None


def _depths(parents: dict[str, list[str]], source: str | None) -> dict[str, int]:
    """Depth of each group below `all` (the longest path); a cycle is an error."""
    depth: dict[str, int] = {"all": 0}

    def visit(name: str, path: list[str]) -> int:
        if name in path:
            cycle = " -> ".join(path[path.index(name):] + [name])
            raise InventoryError(f"groups form a cycle: {cycle}", where=source)
        if name not in depth:
            depth[name] = 1 + max(visit(p, path + [name]) for p in parents[name])
        return depth[name]

    for name in parents:
        visit(name, [])
    return depth


def _ancestors(name: str, parents: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        for p in parents[todo.pop()]:
            if p not in seen:
                seen.add(p)
                todo.append(p)
    return seen


def _parse_ini_into(b: _Builder, text: str, source: str) -> None:
    group, state = "ungrouped", "hosts"
    pending_children: dict[str, str] = {}  # child group -> where it was first named
    pending_vars: dict[str, str] = {}  # [group:vars] seen before the group is defined
    for lineno, raw in enumerate(text.splitlines(), 1):
        where = f"{source}:{lineno}"
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        m = _SECTION.match(line)
        if m:
            group, state = m.group(1), m.group(2) or "hosts"
            if state not in ("hosts", "children", "vars"):
                raise InventoryError(f"section [{group}:{state}] has unknown type {state!r}; "
                                     "expected [group], [group:children] or [group:vars]", where=where)
            b.group(group, define=state != "vars")
            if state == "vars" and group not in b.defined:
                pending_vars.setdefault(group, where)
            continue
        if line.startswith("[") and line.endswith("]"):
            raise InventoryError(f"invalid section header {line!r} (no spaces allowed, only one ':')",
                                 where=where)
        if state == "vars":
            key, eq, value = line.partition("=")
            if not eq or not key.strip():
                raise InventoryError(f"expected key=value in [{group}:vars], got {line!r}", where=where)
            b.groups[group].vars[key.strip()] = parse_value(value)
        elif state == "children":
            m = _GROUP_NAME.match(line)
            if not m:
                raise InventoryError(f"expected a group name in [{group}:children], got {line!r}",
                                     where=where)
            pending_children.setdefault(m.group(1), where)
            b.add_child(group, m.group(1), where)
            b.group(m.group(1), define=False)
        else:
            _parse_host_line(b, group, line, where)
    for name, where in {**pending_vars, **pending_children}.items():
        if name not in b.defined:
            what = f"[{name}:vars] is for" if name in pending_vars else "[…:children] names"
            raise InventoryError(f"{what} undefined group {name!r}", where=where)


def _parse_host_line(b: _Builder, group: str, line: str, where: str) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise InventoryError(f"cannot parse host line {line!r}: {exc}", where=where) from None
    if not tokens:
        return
    hvars = {}
    for token in tokens[1:]:
        key, eq, value = token.partition("=")
        if not eq or not key:
            raise InventoryError(f"expected key=value host variable, got {token!r}", where=where)
        hvars[key] = parse_value(value)
    for name, port in _expand_pattern(tokens[0], where):
        b.add_host(group, name, port, hvars, where)


def _expand_pattern(pattern: str, where: str) -> list[tuple[str, int | None]]:
    try:
        host, port = split_port(pattern)
        return [(name, port) for name in expand_range(host)]
    except ValueError as exc:
        raise InventoryError(str(exc), where=where) from None


_NULL = "tag:yaml.org,2002:null"


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
        for sub, sline, subnode in [] if key == "vars" else entries:
            spath, swhere = f"{kpath}.{sub}", f"{source}:{sline}"
            if key == "children":
                b.add_child(name, sub, swhere)
                _yaml_group(b, loader, sub, subnode, spath, source, sline)
                continue
            hvars = {} if subnode is None else loader.construct_document(subnode) or {}
            if not isinstance(hvars, dict):
                raise InventoryError(f"{spath}: host variables must be a mapping, got {hvars!r}",
                                     where=swhere)
            for hname, port in _expand_pattern(sub, swhere):
                b.add_host(name, hname, port, hvars, swhere)


def _looks_like_yaml(text: str, source: str) -> bool:
    ext = os.path.splitext(source)[1].lower()
    if ext in YAML_EXTS or ext == ".ini":
        return ext != ".ini"
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")):
            return line.startswith(("---", "{")) or bool(re.match(r"^[^\s=\[]+:\s*(#.*)?$", line))
    return False


def parse_inventory(text: str, source: str = "<inventory>", base_dir: str | None = None, *,
                    fmt: str | None = None) -> Inventory:
    """Parse an inventory; `fmt` is "ini" or "yaml", else chosen by `source`'s extension or the text.

    Errors name `source:LINE` (and, for YAML, the key path). Relative key files resolve
    against `base_dir`.
    """
    b = _Builder()
    yaml_fmt = _looks_like_yaml(text, source) if fmt is None else fmt == "yaml"
    (_parse_yaml_into if yaml_fmt else _parse_ini_into)(b, text, source)
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


def _vars_files(directory: Path, name: str) -> list[Path]:
    """group_vars/NAME[.yml|.yaml|.json] or every file of the directory group_vars/NAME/."""
    found = []
    for candidate in [directory / name] + [directory / (name + ext) for ext in YAML_EXTS]:
        if candidate.is_dir():
            found += sorted(p for p in candidate.rglob("*") if p.is_file()
                            and (p.suffix in YAML_EXTS or not p.suffix) and not p.name.startswith("."))
        elif candidate.is_file():
            found.append(candidate)
    return found


def _load_vars_dir(directory: Path, names, into: dict[str, dict]) -> None:
    for name in names:
        for path in _vars_files(directory, name):
            root, loader = _compose(_read(path), str(path))
            data = loader.construct_document(root) if root is not None else None
            if data is None:
                continue
            if not isinstance(data, dict):
                raise InventoryError(f"expected a mapping of variables, got {type(data).__name__}",
                                     where=str(path))
            into.setdefault(name, {}).update(data)


def load_inventory(path: str | os.PathLike | None, *, missing_ok: bool = False) -> Inventory:
    """Read an inventory file (or directory of them) with its group_vars/ and host_vars/.

    None gives an empty inventory, in which every pattern is taken as an address; so does a
    missing path when `missing_ok`.
    """
    if path is None:
        return Inventory()
    path = Path(path).expanduser()
    if not path.exists():
        if missing_ok:
            return Inventory(source=str(path))
        raise InventoryError("no such inventory file or directory", where=str(path))
    files = [path]
    if path.is_dir():
        files = [f for f in sorted(path.iterdir()) if f.is_file() and not f.name.startswith(".")
                 and not f.name.endswith(IGNORED_EXTS)]
    b = _Builder()
    for file in files:
        text = _read(file)
        if text.startswith("#!"):
            raise InventoryError("dynamic inventory scripts are not supported", where=str(file))
        (_parse_yaml_into if _looks_like_yaml(text, str(file)) else _parse_ini_into)(b, text, str(file))
    base = path if path.is_dir() else path.parent
    _load_vars_dir(base / "group_vars", list(b.groups), b.file_group_vars)
    _load_vars_dir(base / "host_vars", list(b.host_vars), b.file_host_vars)
    return b.build(str(path), str(base.resolve()))
