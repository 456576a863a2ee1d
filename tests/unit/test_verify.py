"""The verify checks' host side: the shell tests they run through a connector, and what they conclude."""

from __future__ import annotations

from paasops.connectors.base import CommandResult, Connector
from paasops.verify import file_contains, path_exists, service_running


class Scripted(Connector):
    """A connector that answers each command from a table and records what it was asked."""

    name = "h1"

    def __init__(self, answers: dict[str, tuple[int, str]]):
        self.answers, self.ran = answers, []

    def run(self, command, *, sudo=False, timeout=None, stdin=None):
        self.ran.append((command, sudo))
        code, out = self.answers.get(command, (1, ""))
        return CommandResult(command, code, out, "")

    def put(self, data, path, *, mode=None, sudo=False):
        raise AssertionError("verify never writes")

    def get(self, path, *, sudo=False):
        raise AssertionError("verify reads through commands")


def test_service_running_is_systemd_active():
    conn = Scripted({"systemctl is-active docker": (0, "active\n"),
                     "systemctl is-active paasops-register": (3, "inactive\n")})
    assert service_running(conn, "docker", sudo=True)
    assert not service_running(conn, "paasops-register", sudo=True)
    assert conn.ran == [("systemctl is-active docker", True), ("systemctl is-active paasops-register", True)]


def test_file_contains_is_a_fixed_string_search():
    conn = Scripted({"grep -qsF -- '\"tlsverify\": true' /etc/docker/daemon.json": (0, "")})
    assert file_contains(conn, "/etc/docker/daemon.json", '"tlsverify": true', sudo=False)
    assert not file_contains(conn, "/etc/docker/other.json", '"tlsverify": true', sudo=False)


def test_path_exists_quotes_the_path():
    conn = Scripted({"test -e '/etc/a b'": (0, "")})
    assert path_exists(conn, "/etc/a b", sudo=False) and not path_exists(conn, "/etc/c", sudo=False)
