"""Role ACL: which methods and API paths a role may call (pure, deny by default); `ownership` says which resources."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from ..vocabulary import ADMIN_ROLE

ANY = "*"
# A rule is "PATH" (any method), "METHOD[,METHOD…] PATH", or "*" (everything). GET also allows HEAD.
DEFAULT_ROLES: dict[str, list[str]] = {
    ADMIN_ROLE: [ANY],
    "user": [
        "/api/containers", "/api/cluster/info", "/api/events", "/api/apps",
        "GET /api/engines", "GET /api/report", "GET /api/routes",
        "POST /api/plan",  # a what-if over their own apps
        "POST /api/rebalance",  # moves of their own apps only (service.rebalance)
        "GET /api/account", "POST /api/logout", "POST /api/passwd",  # their own session and password
        "/api/tokens",  # their own API tokens for jobs (of their role at most)
    ],
}
MAX_DECODE_ROUNDS = 4  # %25 nested deeper than this is not a path a client meant: refused


@dataclass(frozen=True)
class Rule:
    prefix: str  # a normalised path, or "*"
    methods: frozenset[str] | None = None  # None: any method

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        return self.prefix == ANY or under(path, self.prefix)


def under(path: str, prefix: str) -> bool:
    """`path` is `prefix` or below it, on a segment boundary: /api/containers/x yes, /api/containersX no."""
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def parse_rule(text: str) -> Rule:
    parts = text.split()
    if parts == [ANY]:
        return Rule(ANY)
    if len(parts) == 1:
        methods, path = None, parts[0]
    elif len(parts) == 2:
        names = {m.upper() for m in parts[0].split(",") if m}
        methods = None if ANY in names else frozenset(names | ({"HEAD"} if "GET" in names else set()))
        path = parts[1]
    else:
        raise ValueError(f"ACL rule {text!r}: expected 'PATH', 'METHOD PATH' or '*'")
    if not path.startswith("/") or normalise(path) != path.rstrip("/") or "%" in path:
        raise ValueError(f"ACL rule {text!r}: the path must be absolute and normalised")
    return Rule(path.rstrip("/") or "/", methods)


def normalise(path: str) -> str:
    """Percent-decode (until stable), collapse '//', resolve '.' and '..', drop the trailing slash.

    Raises ValueError for what no client should send: a relative path, control characters,
    or encodings nested deeper than MAX_DECODE_ROUNDS.
    """
    for _ in range(MAX_DECODE_ROUNDS):
        decoded = unquote(path, errors="strict")
        if decoded == path:
            break
        path = decoded
    else:
        raise ValueError("path percent-encoded too deeply")
    if not path.startswith("/") or any(ord(c) < 0x20 or c == "\x7f" for c in path):
        raise ValueError("not an absolute path of printable characters")
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
        else:
            segments.append(segment)
    return "/" + "/".join(segments)


def literal(path: str) -> str:
    """The path as the router reads it (no decoding, no '..'), only '//' collapsed and the trailing slash dropped."""
    return "/" + "/".join(s for s in path.split("/") if s)


def compile_rules(texts: Iterable[str]) -> list[Rule]:
    """Rules from their text; a malformed rule grants nothing (deny by default) rather than failing."""
    rules = []
    for text in texts:
        try:
            rules.append(parse_rule(text))
        except ValueError:
            continue
    return rules


def allows(rules: Iterable[str | Rule], method: str, path: str) -> bool:
    """May a role with these rules call METHOD PATH?

    Both readings of the path must be allowed: the normalised one (what it means) and the literal
    one (what the router matches), so '/api/containers/../accounts' and '/api/accounts/../containers'
    are both refused to a role that may use containers only.
    """
    rules = list(rules)
    compiled = [r for r in rules if isinstance(r, Rule)] + compile_rules(r for r in rules if isinstance(r, str))
    try:
        views = {normalise(path), literal(path)}
    except ValueError:
        return False
    method = method.upper()
    return all(any(rule.matches(method, view) for rule in compiled) for view in views)

