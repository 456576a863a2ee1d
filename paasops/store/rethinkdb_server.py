"""A throwaway RethinkDB server on loopback (free ports, temporary data dir), for tests and benches."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Self

from ..errors import ConnectionFailed

# The Debian 12 packages the server built in ../shared/rethinkdb needs at run time.
RUNTIME_PACKAGES = ("libre2-9", "libcurl4", "libprotobuf32", "libssl3", "zlib1g")
BINARY_ENV = "PAASOPS_RETHINKDB_BIN"
SHARED_BINARY = Path("..", "shared", "rethinkdb", "rethinkdb")  # relative to the repository root
HOST = "127.0.0.1"


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def binary_candidates(env: Mapping[str, str], which: Callable[[str], str | None], root: Path) -> list[Path]:
    """Where a server binary may be, in the order asked: $PAASOPS_RETHINKDB_BIN, `rethinkdb` on
    PATH, then ../shared/rethinkdb/rethinkdb beside the repository."""
    found = [env.get(BINARY_ENV) or None, which("rethinkdb"), str(root / SHARED_BINARY)]
    return [Path(p) for p in found if p]


def find_binary(root: Path | None = None) -> Path | None:
    """The first candidate that is an executable file, or None."""
    for path in binary_candidates(os.environ, shutil.which, root or repo_root()):
        if path.is_file() and os.access(path, os.X_OK):
            return path.resolve()
    return None


def cannot_run(binary: Path) -> str | None:
    """Why `binary` cannot start here (a missing shared library, say), or None when it runs."""
    try:
        done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        return f"{binary} cannot run: {exc}"
    if done.returncode == 0:
        return None
    first = (done.stderr or done.stdout).strip().splitlines()[:1] or [f"exit {done.returncode}"]
    return f"{binary} cannot run: {first[0]} (bin/setup-machine installs {' '.join(RUNTIME_PACKAGES)})"


def free_ports(count: int) -> list[int]:
    """Ports the kernel has just handed out on loopback; held together so they differ."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # If the test run is killed, its server goes too instead of lingering (Linux: PR_SET_PDEATHSIG).
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)


def _end_group(pgid: int, timeout: float = 10.0) -> None:
    """Wait for the processes of a group we started to end; SIGKILL what is left after `timeout`
    (and give up 2 s later: a zombie nobody reaps still counts as a member)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline + 2:
        try:
            os.killpg(pgid, signal.SIGKILL if time.monotonic() > deadline else 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)


class ThrowawayServer:
    """One RethinkDB server this process starts and stops: never one it did not start.

    Free ports and a data directory of its own mean a server left running by an earlier
    crashed run (or anyone else's) is neither reused nor disturbed.
    """

    def __init__(self, binary: Path, *, start_timeout: float = 60.0, cache_mb: int = 128):
        self.binary = Path(binary)
        self.start_timeout = start_timeout
        self.cache_mb = cache_mb
        self.driver_port = self.cluster_port = self.http_port = 0
        self.directory: Path | None = None
        self._data: Path | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The state URL of the server, without a database: add `/DB`."""
        return f"rethinkdb://{HOST}:{self.driver_port}"

    def start(self) -> Self:
        """Start the server (a no-op when this object's server already runs)."""
        if self.running:
            return self
        self.directory = Path(tempfile.mkdtemp(prefix="paasops-rethinkdb-"))
        for attempt in range(3):  # another process may take a free port before the server binds it
            self.driver_port, self.cluster_port, self.http_port = free_ports(3)
            self._data = self.directory / f"data-{attempt}"
            if self._launch():
                return self
        raise ConnectionFailed(f"RethinkDB did not start: {self.log_tail()}", where=f"{HOST}:{self.driver_port}")

    def restart(self) -> None:
        """Start the stopped server again on the same ports and data (a store outage and its end)."""
        if self.running:
            return
        if self.directory is None or not self._launch():
            raise ConnectionFailed(f"RethinkDB did not restart: {self.log_tail()}", where=f"{HOST}:{self.driver_port}")

    def _launch(self) -> bool:
        assert self.directory is not None and self._data is not None
        args = [str(self.binary), "--directory", str(self._data), "--bind", HOST,
                "--driver-port", str(self.driver_port), "--cluster-port", str(self.cluster_port),
                "--http-port", str(self.http_port), "--no-update-check", "--cache-size", str(self.cache_mb),
                "--server-name", "paasops_throwaway"]
        with open(self.directory / f"server-{time.time_ns()}.log", "wb") as log:
            # preexec_fn only calls prctl, which is safe between fork and exec even with threads.
            self._proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
                start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                return False
            if self._answers():
                return True
            time.sleep(0.05)
        self.stop(remove=False)
        raise ConnectionFailed(f"RethinkDB did not answer within {self.start_timeout:.0f} s: {self.log_tail()}",
                               where=f"{HOST}:{self.driver_port}")

    def _answers(self) -> bool:
        from rethinkdb import RethinkDB
        from rethinkdb.errors import ReqlDriverError

        try:
            RethinkDB().connect(host=HOST, port=self.driver_port, timeout=1).close()
            return True
        except (ReqlDriverError, OSError):
            return False

    def log_tail(self, lines: int = 5) -> str:
        logs = sorted(self.directory.glob("server-*.log")) if self.directory else []
        text = logs[-1].read_text(errors="replace").strip().splitlines() if logs else []
        return " | ".join(text[-lines:]) or "no output"

    def stop(self, remove: bool = True) -> None:
        """Stop the server this object started (its process group: SIGTERM, then SIGKILL) and drop its data."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            # The server forks helpers of its own: the data may only go once they are gone too.
            _end_group(proc.pid)
        if remove and self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
