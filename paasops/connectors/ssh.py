"""The SSH connector: one paramiko client per host, known_hosts checks, sudo and atomic uploads."""

from __future__ import annotations

import errno
import getpass
import os
import select
import shlex
import socket
import threading
import time
from pathlib import Path

import paramiko

from paasops.connectors.base import CommandResult, Connector, sudo_wrap
from paasops.errors import CommandFailed, ConnectionFailed, HostKeyError

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
SYSTEM_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")  # also read when known_hosts is the default
TIMED_OUT = 124  # exit code of a command killed by its timeout, as timeout(1) uses
_MISSING = 44  # get(): the remote shell's "no such file"
_CHUNK = 65536
_known_hosts_lock = threading.Lock()  # connectors of several threads may append at once


def known_hosts_name(address: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: `addr`, or `[addr]:port` off port 22."""
    return address if port == 22 else f"[{address}]:{port}"


def describe_key(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


def _load_known_hosts(keys: paramiko.HostKeys, files: list[Path], where: str) -> set[str]:
    """Load OpenSSH known_hosts files into `keys`; returns the @revoked keys (base64).

    Paramiko's own loader stops at the first line it cannot parse (`@cert-authority`, a key
    type it does not know); OpenSSH skips those, and so do we.
    """
    revoked: set[str] = set()
    for path in files:
        try:
            text = path.read_text(errors="replace") if path.is_file() else ""
        except OSError as exc:
            raise HostKeyError(f"cannot read {path}: {exc.strerror or exc}", where=where) from None
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if line.startswith("@revoked "):
                revoked.update(line.split()[3:4])
            if not line or line.startswith(("#", "@")):
                continue
            try:
                entry = paramiko.hostkeys.HostKeyEntry.from_line(line, lineno)
            except Exception:  # noqa: BLE001 - a malformed line; OpenSSH ignores it too
                continue
            if entry is None:
                continue
            for name in entry.hostnames:
                keys.add(name, entry.key.get_name(), entry.key)
    return revoked


class _KnownHostsPolicy(paramiko.MissingHostKeyPolicy):
    """An unknown host key is refused, or appended to known_hosts when the user opted in."""

    def __init__(self, connector: SSHConnector):
        self.conn = connector

    def missing_host_key(self, client, hostname, key):
        conn = self.conn
        if not conn.accept_new:
            raise HostKeyError(f"unknown host key for {conn.name} ({describe_key(key)}); "
                               "pass --accept-new-host-keys to trust it", where=conn.name)
        path = conn.known_hosts
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        try:
            with _known_hosts_lock:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(fd, "a+b") as f:
                    f.seek(0, os.SEEK_END)
                    if f.tell():  # keep the file's last line intact if it lacks a newline
                        f.seek(-1, os.SEEK_END)
                        line = line if f.read(1) == b"\n" else "\n" + line
                    f.write(line.encode())
        except OSError as exc:
            raise HostKeyError(f"cannot save the host key to {path}: {exc.strerror or exc}",
                               where=conn.name) from None


class SSHConnector(Connector):
    """One host over SSH. Opens lazily on first use; `with SSHConnector(...) as c:` closes it."""

    def __init__(self, address: str, *, name: str | None = None, port: int = 22,
                 user: str | None = None, key_file: str | None = None, password: str | None = None,
                 known_hosts: str | os.PathLike | None = None, accept_new: bool = False,
                 connect_timeout: float = 10.0, allow_agent: bool = True,
                 look_for_keys: bool | None = None):
        self.name = name or address
        self.address = address
        self.port = int(port)
        self.user = user or getpass.getuser()
        self.key_file = os.path.expanduser(key_file) if key_file else None
        self.password = password
        self._default_known_hosts = known_hosts is None
        self.known_hosts = Path(known_hosts or DEFAULT_KNOWN_HOSTS).expanduser()
        self.accept_new = accept_new
        self.connect_timeout = connect_timeout
        self.allow_agent = allow_agent
        # With an explicit key file, ~/.ssh/id_* are not tried, so a wrong key fails clearly.
        self.look_for_keys = (self.key_file is None) if look_for_keys is None else look_for_keys
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SSHConnector({self.name!r}, {self.user}@{self.endpoint})"

    @property
    def endpoint(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"

    @property
    def user_is_root(self) -> bool:
        return self.user == "root"

    def connect(self) -> SSHConnector:
        """Open the connection now (it opens by itself on first use); returns self."""
        self._transport()
        return self

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def run(self, command: str, *, sudo: bool = False, timeout: float | None = None,
            stdin: bytes | None = None) -> CommandResult:
        """Run through the login shell; a non-zero exit is a result, a timeout is CommandFailed."""
        code, out, err = self._exec(sudo_wrap(command, sudo, self.user_is_root), stdin, timeout,
                                    shown=command)
        return CommandResult(command, code, out.decode(errors="replace"), err.decode(errors="replace"))

    def put(self, data: bytes, path: str, *, mode: int | None = None, sudo: bool = False) -> None:
        """Write `data` to `path`: a temp file beside it, chmod, then rename over it.

        The data travels on the command's stdin, so a sudo upload needs no world-readable
        staging file in /tmp. Without `mode`, an existing file keeps its mode and owner, and a
        new one gets 0644.
        """
        q = shlex.quote(path)
        keep = (f'chmod "$(stat -L -c %a {q})" "$t"; ' if mode is None else "") + \
            f'chown "$(stat -L -c %u:%g {q})" "$t" 2>/dev/null || true'
        new_mode = f"{mode:o}" if mode is not None else "644"
        script = (f'set -e; t=$(mktemp "$(dirname {q})/.paasops.XXXXXX"); trap \'rm -f "$t"\' EXIT; '
                  f'cat > "$t"; chmod {new_mode} "$t"; if [ -e {q} ]; then {keep}; fi; '
                  f'mv -f "$t" {q}; trap - EXIT')
        shown = f"put {path}"
        code, out, err = self._exec(sudo_wrap(script, sudo, self.user_is_root), data, None, shown=shown)
        if code != 0:
            raise CommandFailed(CommandResult(shown, code, out.decode(errors="replace"),
                                              err.decode(errors="replace")), where=self.name)

    def get(self, path: str, *, sudo: bool = False) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        q = shlex.quote(path)
        script = f"if [ -e {q} ]; then exec cat {q}; else exit {_MISSING}; fi"
        shown = f"get {path}"
        code, out, err = self._exec(sudo_wrap(script, sudo, self.user_is_root), None, None, shown=shown)
        if code == _MISSING and not err:
            return None
        if code != 0:
            raise CommandFailed(CommandResult(shown, code, out.decode(errors="replace"),
                                              err.decode(errors="replace")), where=self.name)
        return out

    # -- internals -------------------------------------------------------------------------

    def _transport(self) -> paramiko.Transport:
        with self._lock:
            if self._client is not None:
                transport = self._client.get_transport()
                if transport is not None and transport.is_active():
                    return transport
                self._client.close()  # the host went away; connect again
                self._client = None
            self._client = self._open()
            transport = self._client.get_transport()
            assert transport is not None  # _open() returns a connected client
            return transport

    def _open(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        files = [self.known_hosts] + ([SYSTEM_KNOWN_HOSTS] if self._default_known_hosts else [])
        revoked = _load_known_hosts(client.get_host_keys(), files, self.name)
        client.set_missing_host_key_policy(_KnownHostsPolicy(self))
        if self.key_file and not os.path.isfile(self.key_file):
            raise ConnectionFailed(f"key file {self.key_file} does not exist", where=self.name)
        t = self.connect_timeout
        try:
            client.connect(self.address, port=self.port, username=self.user, password=self.password,
                           key_filename=self.key_file, timeout=t, banner_timeout=t, auth_timeout=t,
                           channel_timeout=t, allow_agent=self.allow_agent,
                           look_for_keys=self.look_for_keys)
        except BaseException as exc:
            client.close()
            if isinstance(exc, (HostKeyError, KeyboardInterrupt, SystemExit)):
                raise
            raise self._connect_error(exc) from exc
        transport = client.get_transport()
        assert transport is not None  # connect() succeeded
        server_key = transport.get_remote_server_key()
        if server_key.get_base64() in revoked:
            client.close()
            raise HostKeyError(f"the host key of {self.name} ({describe_key(server_key)}) is marked "
                               "@revoked in known_hosts", where=self.name)
        transport.set_keepalive(30)
        return client

    def _connect_error(self, exc: BaseException) -> ConnectionFailed:
        """One line saying why the connection failed, for the user to act on."""
        where, t = self.name, f"{self.connect_timeout:g}s"
        if isinstance(exc, paramiko.BadHostKeyException):
            entry = known_hosts_name(self.address, self.port)
            return HostKeyError(
                f"host key CHANGED for {self.name} ({self.endpoint}): {self.known_hosts} has "
                f"{describe_key(exc.expected_key)}, the server offers {describe_key(exc.key)}; "
                f"if the host was reinstalled, run: ssh-keygen -R '{entry}' -f {self.known_hosts}",
                where=where)
        if isinstance(exc, paramiko.AuthenticationException) or (
                isinstance(exc, paramiko.SSHException) and "No authentication methods" in str(exc)):
            tried = f"key {self.key_file}" if self.key_file else "agent and default keys"
            tried += " and password" if self.password else ""
            return ConnectionFailed(f"authentication failed for user {self.user} ({tried})", where=where)
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
            # The stub types `errors` values as Exception; paramiko only stores the socket errors (OSError) there.
            codes = {e.errno for e in exc.errors.values()}  # type: ignore[attr-defined]
            why = "connection refused" if codes == {errno.ECONNREFUSED} else "host unreachable"
            return ConnectionFailed(f"{why} on {self.endpoint}", where=where)
        if isinstance(exc, socket.gaierror):
            return ConnectionFailed(f"cannot resolve {self.address}: {exc.strerror}", where=where)
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return ConnectionFailed(f"timed out after {t} connecting to {self.endpoint}", where=where)
        if isinstance(exc, paramiko.SSHException):
            # start_client gives up silently at its timeout; the next call says "No existing session"
            if isinstance(exc.__context__, (socket.timeout, TimeoutError)) \
                    or str(exc) == "No existing session":
                return ConnectionFailed(f"timed out after {t} waiting for SSH on {self.endpoint}",
                                        where=where)
            if isinstance(exc.__context__, EOFError) or isinstance(exc, EOFError):
                return ConnectionFailed(f"{self.endpoint} closed the connection during the SSH "
                                        "handshake", where=where)
            return ConnectionFailed(f"SSH error with {self.endpoint}: {exc}", where=where)
        if isinstance(exc, OSError):
            return ConnectionFailed(f"cannot connect to {self.endpoint}: {exc.strerror or exc}",
                                    where=where)
        return ConnectionFailed(f"cannot connect to {self.endpoint}: {exc!r}", where=where)

    def _exec(self, command: str, stdin: bytes | None, timeout: float | None, *,
              shown: str) -> tuple[int, bytes, bytes]:
        transport = self._transport()
        try:
            chan = transport.open_session(timeout=self.connect_timeout)
            chan.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise ConnectionFailed(f"lost the connection to {self.endpoint}: {exc or type(exc).__name__}",
                                   where=self.name) from exc
        feeder = None
        if stdin:
            # A separate writer: a command may fill stdout before it has read all its stdin.
            feeder = threading.Thread(target=_feed, args=(chan, stdin), daemon=True)
            feeder.start()
        else:
            chan.shutdown_write()
        deadline = time.monotonic() + timeout if timeout is not None else None
        out, err = bytearray(), bytearray()

        def drain() -> None:
            while chan.recv_ready():
                out.extend(chan.recv(_CHUNK))
            while chan.recv_stderr_ready():
                err.extend(chan.recv_stderr(_CHUNK))

        try:
            while True:
                drain()
                if (chan.eof_received or chan.closed) and not chan.recv_ready() \
                        and not chan.recv_stderr_ready():
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError
                select.select([chan], [], [], 1.0 if left is None else min(left, 1.0))
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            if not chan.status_event.wait(left):
                raise TimeoutError
            drain()
            return chan.recv_exit_status(), bytes(out), bytes(err)
        except TimeoutError:
            err += f"\n{shown}: timed out after {timeout:g}s".encode()
            raise CommandFailed(CommandResult(shown, TIMED_OUT, out.decode(errors="replace"),
                                              err.decode(errors="replace")), where=self.name) from None
        finally:
            chan.close()
            if feeder is not None:
                feeder.join(timeout=1)


def _feed(chan: paramiko.Channel, data: bytes) -> None:
    try:
        chan.sendall(data)
        chan.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException):
        pass  # the command exited or the channel closed; its status tells the story


def connector_for(host, *, known_hosts: str | os.PathLike | None = None, accept_new: bool = False,
                  connect_timeout: float = 10.0) -> SSHConnector:
    """The connector for an inventory Host (address, port, user, key file, password)."""
    hvars = host.vars
    password = hvars.get("ansible_password", hvars.get("ansible_ssh_pass"))
    timeout = hvars.get("ansible_ssh_timeout", hvars.get("ansible_timeout", connect_timeout))
    return SSHConnector(host.address, name=host.name, port=host.port, user=host.user,
                        key_file=host.key_file, password=str(password) if password else None,
                        known_hosts=known_hosts, accept_new=accept_new,
                        connect_timeout=float(timeout))
