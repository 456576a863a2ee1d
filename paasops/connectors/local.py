"""A connector for this machine: commands through /bin/sh, files written atomically."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile

from paasops.connectors.base import CommandResult, Connector, sudo_wrap
from paasops.errors import CommandFailed


class LocalConnector(Connector):
    """Runs on the control machine itself; used for `localhost` targets and for tests."""

    def __init__(self, name: str = "localhost"):
        self.name = name
        self._is_root = os.geteuid() == 0

    def run(self, command: str, *, sudo: bool = False, timeout: float | None = None,
            stdin: bytes | None = None) -> CommandResult:
        line = sudo_wrap(command, sudo, self._is_root)
        try:
            proc = subprocess.run(["/bin/sh", "-c", line], input=stdin or b"", capture_output=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            # 124 is what coreutils' timeout(1) uses; the caller sees a failed result, not a raise.
            out = (exc.stdout or b"").decode(errors="replace")
            return CommandResult(command, 124, out, f"timed out after {timeout}s")
        return CommandResult(command, proc.returncode, proc.stdout.decode(errors="replace"),
                             proc.stderr.decode(errors="replace"))

    def put(self, data: bytes, path: str, *, mode: int | None = None, sudo: bool = False) -> None:
        if sudo and not self._is_root:
            self._put_sudo(data, path, mode)
            return
        directory = os.path.dirname(os.path.abspath(path))
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".paasops-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode if mode is not None else (current.st_mode & 0o7777 if current else 0o644))
            if current is not None and self._is_root:
                os.chown(tmp, current.st_uid, current.st_gid)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _put_sudo(self, data: bytes, path: str, mode: int | None) -> None:
        """Write through sudo: stream to a temp file beside the target, then rename."""
        tmp = f"{path}.paasops-tmp"
        chmod = f"chmod {mode:o} {shlex.quote(tmp)} && " if mode is not None else ""
        line = (f"cat > {shlex.quote(tmp)} && {chmod}mv -f {shlex.quote(tmp)} {shlex.quote(path)}")
        result = self.run(line, sudo=True, stdin=data)
        if not result.ok:
            raise CommandFailed(result, where=self.name)

    def get(self, path: str, *, sudo: bool = False) -> bytes | None:
        if sudo and not self._is_root:
            result = subprocess.run(["sudo", "-n", "cat", "--", path], capture_output=True)
            return result.stdout if result.returncode == 0 else None
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            return None
