"""The connector interface shared by the SSH and local connectors (after pyinfra/fabric)."""

from __future__ import annotations

import shlex
from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandResult:
    command: str
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class Connector(ABC):
    """One host: run a shell command, put a file, get a file. Opens lazily; a context manager."""

    name: str  # the inventory name of the host, used in every message

    @abstractmethod
    def run(self, command: str, *, sudo: bool = False, timeout: float | None = None,
            stdin: bytes | None = None) -> CommandResult:
        """Run `command` through /bin/sh on the host; never raises on a non-zero exit."""

    @abstractmethod
    def put(self, data: bytes, path: str, *, mode: int | None = None, sudo: bool = False) -> None:
        """Write `data` to `path` on the host atomically (temp file, then rename)."""

    @abstractmethod
    def get(self, path: str, *, sudo: bool = False) -> bytes | None:
        """Read a file from the host; None when it does not exist."""

    def close(self) -> None:  # noqa: B027 - optional: a connector with nothing to release keeps it
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def sudo_wrap(command: str, sudo: bool, user_is_root: bool) -> str:
    """The shell line that runs `command` as root when asked (no-op when already root)."""
    if not sudo or user_is_root:
        return command
    return "sudo -n -H /bin/sh -c " + shlex.quote(command)
