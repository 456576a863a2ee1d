"""Label expressions used as placement constraints: `zone==a`, `disk!=hdd`, `role`, `!gpu`."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from paasops.errors import SpecError

_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]*")


class Constraint(NamedTuple):
    key: str
    op: str  # "==", "!=", "present" or "absent"
    value: str | None
    text: str


@lru_cache(maxsize=4096)
def parse(expr: str) -> Constraint:
    """Parse one label expression; `=` is accepted for `==`. Raises SpecError naming the expression."""
    if not isinstance(expr, str):
        raise SpecError(f"constraint must be a string, not {expr!r}", where="constraints")
    text = expr.strip()
    for op in ("==", "!=", "="):
        if op in text:
            key, value = (part.strip() for part in text.split(op, 1))
            if not _KEY.fullmatch(key) or not value or "=" in value or any(c.isspace() for c in value):
                raise SpecError(f"bad constraint {expr!r}: expected KEY{op}VALUE", where="constraints")
            return Constraint(key, "==" if op == "=" else op, value, f"{key}{'==' if op == '=' else op}{value}")
    if text.startswith("!") and _KEY.fullmatch(text[1:].strip()):
        key = text[1:].strip()
        return Constraint(key, "absent", None, f"!{key}")
    if _KEY.fullmatch(text):
        return Constraint(text, "present", None, text)
    raise SpecError(f"bad constraint {expr!r}: expected KEY==VALUE, KEY!=VALUE, KEY or !KEY", where="constraints")


def violation(constraint: Constraint, labels) -> str | None:
    """Why the labels break the constraint, or None. A missing label satisfies `!=` (as in Nomad)."""
    key, op, value, text = constraint
    present = key in labels
    actual = str(labels[key]) if present else None
    if op == "==":
        if not present:
            return f"constraint {text}: no label {key}"
        if actual != value:
            return f"constraint {text}: {key} is {actual}"
    elif op == "!=":
        if present and actual == value:
            return f"constraint {text}: {key} is {actual}"
    elif op == "present":
        if not present:
            return f"constraint {text}: no label {key}"
    elif present:
        return f"constraint {text}: {key} is {actual}"
    return None
