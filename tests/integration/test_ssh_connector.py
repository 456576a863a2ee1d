"""The SSH connector against a real OpenSSH server started on 127.0.0.1 for each test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from paasops.connectors.ssh import SSHConnector, connector_for
from paasops.errors import CommandFailed, ConnectionFailed, HostKeyError
from paasops.inventory import parse_ini

pytestmark = pytest.mark.integration

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "paasops-test", "-f", str(path)],
                   check=True)
    return path


class Sshd:
    """A throwaway sshd: its own config, host key and authorized_keys, in its own process group."""

    def __init__(self, root: Path, authorized_key: Path):
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.host_key = root / "ssh_host_ed25519_key"
        (root / "authorized_keys").write_text(authorized_key.with_suffix(".pub").read_text())
        (root / "sshd_config").write_text(f"""\
Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.host_key}
PidFile {root}/sshd.pid
AuthorizedKeysFile {root}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
LogLevel VERBOSE
""")

    def start(self, new_host_key: bool = False) -> None:
        if new_host_key or not self.host_key.exists():
            for p in (self.host_key, self.host_key.with_suffix(".pub")):
                p.unlink(missing_ok=True)
            keygen(self.host_key)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        self.log = open(self.root / "sshd.log", "ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.root / "sshd_config")],
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.root / 'sshd.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen on {self.port}: {(self.root / 'sshd.log').read_text()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        try:  # the group also holds the per-connection sshd children
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.proc = None
        self.log.close()

    def host_key_fingerprint(self) -> str:
        out = subprocess.run(["ssh-keygen", "-l", "-f", str(self.host_key.with_suffix(".pub"))],
                             check=True, capture_output=True, text=True).stdout
        return out.split()[1]


@pytest.fixture(scope="module")
def client_key(tmp_path_factory) -> Path:
    return keygen(tmp_path_factory.mktemp("client") / "id_ed25519")


@pytest.fixture
def sshd(tmp_path, client_key, monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)  # only the test's key may log in
    (tmp_path / "sshd").mkdir()
    server = Sshd(tmp_path / "sshd", client_key)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def known_hosts(tmp_path) -> Path:
    return tmp_path / "known_hosts"


def connector(sshd: Sshd, key: Path, known_hosts: Path, **kw) -> SSHConnector:
    kw = {"accept_new": True, "user": "root", "name": "lab1", **kw}
    return SSHConnector("127.0.0.1", port=sshd.port, key_file=str(key), known_hosts=known_hosts, **kw)


def test_run_put_get(sshd, client_key, known_hosts, tmp_path):
    with connector(sshd, client_key, known_hosts) as c:
        r = c.run("echo out; echo err >&2; exit 3")
        assert (r.exit_code, r.stdout, r.stderr, r.ok) == (3, "out\n", "err\n", False)
        assert c.run("cat; printf done", stdin=b"from stdin\n").stdout == "from stdin\ndone"
        big = os.urandom(3 * 1024 * 1024)  # larger than the SSH windows, in both directions
        assert c.run("wc -c", stdin=big).stdout.strip() == str(len(big))

        target = tmp_path / "remote" / "file.bin"
        target.parent.mkdir()
        assert c.get(str(target)) is None
        c.put(big, str(target), mode=0o640)
        assert target.read_bytes() == big and (target.stat().st_mode & 0o777) == 0o640
        assert c.get(str(target)) == big
        c.put(b"v2\n", str(target))  # an existing file keeps its mode
        assert target.read_bytes() == b"v2\n" and (target.stat().st_mode & 0o777) == 0o640
        assert [p.name for p in target.parent.iterdir()] == ["file.bin"]  # no temp file left

        with pytest.raises(CommandFailed) as exc:
            c.put(b"x", str(tmp_path / "no" / "such" / "dir" / "f"))
        assert exc.value.where == "lab1"


def test_sudo_as_root_is_a_no_op(sshd, client_key, known_hosts, tmp_path):
    with connector(sshd, client_key, known_hosts) as c:
        assert c.run("id -u", sudo=True).stdout.strip() == "0"
        c.put(b"secret", str(tmp_path / "s"), mode=0o600, sudo=True)
        assert c.get(str(tmp_path / "s"), sudo=True) == b"secret"


def test_command_timeout(sshd, client_key, known_hosts):
    with connector(sshd, client_key, known_hosts) as c:
        started = time.monotonic()
        with pytest.raises(CommandFailed, match="timed out after 0.5s") as exc:
            c.run("echo started; sleep 5", timeout=0.5)
        assert time.monotonic() - started < 5
        assert exc.value.result.exit_code == 124 and exc.value.result.stdout == "started\n"
        assert c.run("echo still usable").stdout == "still usable\n"


def test_unknown_host_key_is_refused(sshd, client_key, known_hosts):
    with pytest.raises(HostKeyError) as exc:
        connector(sshd, client_key, known_hosts, accept_new=False).connect()
    message = str(exc.value)
    assert exc.value.where == "lab1"
    assert "unknown host key for lab1" in message and "--accept-new-host-keys" in message
    assert sshd.host_key_fingerprint() in message
    assert not known_hosts.exists()


def test_accept_new_stores_the_key_then_verifies_it(sshd, client_key, known_hosts):
    known_hosts.write_text("# kept\nother.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==")  # no \n
    with connector(sshd, client_key, known_hosts, accept_new=True) as c:
        assert c.run("true").ok
    lines = known_hosts.read_text().splitlines()
    assert lines[:2] == ["# kept", "other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA=="]
    assert lines[2].startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    with connector(sshd, client_key, known_hosts, accept_new=False) as c:  # now known
        assert c.run("echo again").stdout == "again\n"
    assert len(known_hosts.read_text().splitlines()) == 3


def test_hashed_entries_and_lines_paramiko_cannot_parse(sshd, client_key, known_hosts):
    pub = sshd.host_key.with_suffix(".pub").read_text().split()
    known_hosts.write_text(
        "@cert-authority *.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLs\n"
        "sk.example.com sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t\n"
        f"[127.0.0.1]:{sshd.port} {pub[0]} {pub[1]}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(known_hosts)], check=True, capture_output=True)
    assert f"[127.0.0.1]:{sshd.port}" not in known_hosts.read_text()  # the name is hashed now
    with connector(sshd, client_key, known_hosts, accept_new=False) as c:
        assert c.run("true").ok
    with known_hosts.open("a") as f:
        f.write(f"@revoked * {pub[0]} {pub[1]}\n")
    with pytest.raises(HostKeyError, match="marked @revoked"):
        connector(sshd, client_key, known_hosts, accept_new=True).connect()


def test_changed_host_key_is_refused_even_with_accept_new(sshd, client_key, known_hosts):
    with connector(sshd, client_key, known_hosts) as c:
        c.run("true")
    assert known_hosts.stat().st_mode & 0o777 == 0o600  # created by accept_new
    old = sshd.host_key_fingerprint()
    sshd.stop()
    sshd.start(new_host_key=True)
    new = sshd.host_key_fingerprint()
    assert old != new
    with pytest.raises(HostKeyError) as exc:
        connector(sshd, client_key, known_hosts, accept_new=True).connect()
    message = str(exc.value)
    assert exc.value.where == "lab1" and "CHANGED for lab1" in message
    assert old in message and new in message and f"[127.0.0.1]:{sshd.port}" in message


@pytest.mark.parametrize("user, wrong_key", [("nosuchuser", False), ("root", True)])
def test_wrong_user_or_key_fails_naming_the_host(sshd, client_key, known_hosts, tmp_path, user,
                                                 wrong_key):
    key = keygen(tmp_path / "other_key") if wrong_key else client_key
    with pytest.raises(ConnectionFailed) as exc:
        connector(sshd, key, known_hosts, user=user).run("true")
    assert not isinstance(exc.value, HostKeyError)
    assert exc.value.where == "lab1"
    assert str(exc.value) == f"lab1: authentication failed for user {user} (key {key})"


def test_connection_refused(known_hosts, client_key):
    port = free_port()  # nothing listens there
    with pytest.raises(ConnectionFailed) as exc:
        SSHConnector("127.0.0.1", name="gone", port=port, key_file=str(client_key),
                     known_hosts=known_hosts).connect()
    assert str(exc.value) == f"gone: connection refused on 127.0.0.1:{port}"


def test_silent_server_times_out(known_hosts, client_key):
    with socket.socket() as silent:  # accepts TCP, never speaks SSH
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(ConnectionFailed, match=r"^quiet: timed out after 1s") as exc:
            SSHConnector("127.0.0.1", name="quiet", port=port, key_file=str(client_key),
                         known_hosts=known_hosts, connect_timeout=1).connect()
        assert time.monotonic() - started < 5
        assert exc.value.where == "quiet"


def test_unresolvable_name(known_hosts):
    with pytest.raises(ConnectionFailed, match=r"^nowhere: cannot resolve nowhere\.invalid"):
        SSHConnector("nowhere.invalid", name="nowhere", known_hosts=known_hosts).connect()


def test_connector_for_an_inventory_host(sshd, client_key, known_hosts, tmp_path):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "lab").write_bytes(client_key.read_bytes())
    inv = parse_ini(f"[lab]\nlab1 ansible_host=127.0.0.1 ansible_port={sshd.port} ansible_user=root "
                    "ansible_ssh_private_key_file=keys/lab\n", "hosts", str(tmp_path))
    [host] = inv.resolve(["lab"])
    with connector_for(host, known_hosts=known_hosts, accept_new=True) as c:
        assert c.name == "lab1"
        assert c.run("echo $USER").stdout.strip() == "root"
