"""What changed between two releases of an app spec, field by field (secrets by name only, never values)."""

from __future__ import annotations

from typing import Any

from .results import SpecChange
from .spec import NOT_RELEASE_FIELDS, AppSpec

# Mapping fields shown key by key (`env.GREETING`); the others are shown whole.
KEYED_FIELDS = ("env", "labels", "restart", "health")


def _plain(spec: AppSpec) -> dict[str, Any]:
    data = spec.model_dump(mode="json", exclude=set(NOT_RELEASE_FIELDS) | {"secrets"})
    data["command"] = spec.argv  # a command string and its argv are one command
    data["constraints"] = sorted(spec.constraints)
    return data


def _change(field: str, old: Any, new: Any) -> SpecChange:
    kind = "added" if old is None else "removed" if new is None else "changed"
    return SpecChange(field=field, change=kind, old=old, new=new)


def spec_diff(old: AppSpec, new: AppSpec) -> list[SpecChange]:
    """Every release field that differs from `old` to `new`, in the spec's field order; empty: the same release.

    Secrets are compared by value (both specs hold them opened) and shown as added/removed/changed
    with neither value; `count` is no release field (a scale), so it is not listed.
    """
    before, after = _plain(old), _plain(new)
    changes: list[SpecChange] = []
    for field in AppSpec.model_fields:
        if field in NOT_RELEASE_FIELDS:
            continue
        if field == "secrets":
            changes.extend(_secret_changes(old.secrets, new.secrets))
            continue
        a, b = before.get(field), after.get(field)
        if a == b:
            continue
        if field in KEYED_FIELDS and isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(a.keys() | b.keys()):
                if a.get(key) != b.get(key):
                    changes.append(_change(f"{field}.{key}", a.get(key), b.get(key)))
        else:
            changes.append(_change(field, a, b))
    return changes


def _secret_changes(old: dict[str, str], new: dict[str, str]) -> list[SpecChange]:
    out = []
    for name in sorted(old.keys() | new.keys()):
        if old.get(name) != new.get(name):
            kind = "added" if name not in old else "removed" if name not in new else "changed"
            out.append(SpecChange(field=f"secrets.{name}", change=kind, secret=True))
    return out

