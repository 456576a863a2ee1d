"""The small grammars of an inventory: INI values, `host:port` patterns and host ranges."""

from __future__ import annotations

import ast
import re
import string

from paasops.errors import InventoryError

_RANGE = re.compile(r"\[([^\[\]]*)\]")


def to_bool(value) -> bool:
    """Ansible's truthiness (its `bool` filter, ansible_become): yes/y/on/true/t/1, True."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "y", "yes", "on", "true", "t")
    return bool(value)


def parse_value(raw: str):
    """An INI value typed as `ansible-inventory --list` types it: a Python literal when it is one
    (42, 1.5, True, None, [1, 'a'], "quoted"), else the text itself, so `true`, `yes` and `no`
    stay strings (only Python's True and False are booleans)."""
    text = raw.strip()
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _plain(value)


def _plain(value):
    """What Ansible makes of a literal: tuples and sets are lists (at any depth), bytes are text,
    and what a variable cannot hold (`...`, complex numbers) is its text."""
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if value is Ellipsis:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


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


def expand_host_pattern(pattern: str, where: str) -> list[tuple[str, int | None]]:
    """A host pattern of an inventory line: each expanded name with the port it gave (or None)."""
    try:
        host, port = split_port(pattern)
        return [(name, port) for name in expand_range(host)]
    except ValueError as exc:
        raise InventoryError(str(exc), where=where) from None
