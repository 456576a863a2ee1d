"""The changes a module plans: shell commands and file writes, plus their diffs."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """A shell line to run on the host; `change` is a (before, after) summary for --diff."""

    cmd: str
    change: tuple[str, str] | None = None
    timeout: float | None = None

    def describe(self) -> str:
        return self.cmd


@dataclass(frozen=True)
class WriteFile:
    """Write `content` to `path` atomically, then set owner/group when given."""

    path: str
    content: bytes
    mode: int = 0o644
    owner: str | None = None
    group: str | None = None
    before: bytes | None = None  # the current content, for --diff; None when the file is new

    def describe(self) -> str:
        owner = f" {self.owner or ''}:{self.group or ''}" if (self.owner or self.group) else ""
        return f"write {self.path} ({len(self.content)} bytes, mode {self.mode:04o}{owner})"


Action = Command | WriteFile


def summary(action: Action) -> str:
    """What a person wants to read: the state change when known, else the command."""
    if isinstance(action, Command) and action.change is not None:
        return f"{action.change[0]} → {action.change[1]}"
    return action.describe()


def describe(actions: list[Action]) -> list[str]:
    """One line per action; what check mode reports and what table tests compare."""
    return [a.describe() for a in actions]


def _text(data: bytes | None) -> list[str] | None:
    if data is None:
        return []
    if b"\0" in data:
        return None
    return data.decode("utf-8", errors="replace").splitlines(keepends=True)


def diff_of(action: Action) -> str:
    """A unified diff for a file write, or a before/after summary for a state change."""
    if isinstance(action, WriteFile):
        before, after = _text(action.before), _text(action.content)
        if before is None or after is None:
            return f"Binary file {action.path} differs\n"
        label_before = action.path if action.before is not None else "/dev/null"
        lines = difflib.unified_diff(before, after, f"before: {label_before}", f"after: {action.path}")
        return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                       for line in lines)
    if action.change is not None:
        old, new = action.change
        return f"-{old}\n+{new}\n"
    return ""


def diff_all(actions: list[Action]) -> str:
    return "".join(diff_of(a) for a in actions)
