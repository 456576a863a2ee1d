"""A real playbook run on this machine through LocalConnector: idempotence, check, diff, failures."""

from __future__ import annotations

import os
import socket
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from paasops.automation import run_playbook
from paasops.automation.facts import host_facts_command, parse_host_facts
from paasops.connectors.local import LocalConnector
from paasops.errors import ConnectionFailed

pytestmark = pytest.mark.integration


@dataclass
class Host:
    name: str
    address: str = "127.0.0.1"
    vars: dict = field(default_factory=dict)
    groups: tuple = ("local",)


SITE = """\
- name: configure
  hosts: local
  vars:
    base: "{{ root }}/{{ inventory_hostname }}"
  tasks:
    - name: app dir
      file: {path: "{{ base }}/etc", state: directory, mode: "0750"}
    - name: config from template
      template: {src: app.conf.j2, dest: "{{ base }}/etc/app.conf", mode: "0640"}
      notify: note config change
    - name: static file
      copy: {src: motd.txt, dest: "{{ base }}/etc/"}
    - name: inline content
      copy:
        dest: "{{ base }}/etc/settings.json"
        content: {color: "{{ color }}", cpus: "{{ facts.cpu_count }}"}
    - name: one-time init
      command: touch {{ base }}/initialised
      args: {creates: "{{ base }}/initialised"}
    - name: read it back
      shell: cat {{ base }}/etc/app.conf
      register: conf
      changed_when: false
      check_mode: false  # a read: runs in check mode too
    - name: check what was read
      assert:
        that: ["'host=' ~ inventory_hostname in conf.stdout", "conf.rc == 0"]
    - name: marker files
      file: {path: "{{ base }}/{{ item }}", state: touch}
      loop: [a, b]
    - name: wait for the file
      wait_for: {path: "{{ base }}/etc/app.conf", timeout: 5}
  handlers:
    - name: note config change
      shell: echo changed >> {{ base }}/handler.log
"""

TEMPLATE = "# managed by paasops\nhost={{ inventory_hostname }}\ncolor={{ color }}\ndist={{ facts.distribution.id }}\n"


@pytest.fixture
def project(tmp_path):
    (tmp_path / "playbooks" / "files").mkdir(parents=True)
    (tmp_path / "templates").mkdir()
    (tmp_path / "playbooks" / "site.yml").write_text(SITE)
    (tmp_path / "playbooks" / "files" / "motd.txt").write_text("welcome\n")
    (tmp_path / "templates" / "app.conf.j2").write_text(TEMPLATE)
    (tmp_path / "out").mkdir()
    return tmp_path


def run(project, hosts, **kw):
    events = []
    report = run_playbook(project / "playbooks" / "site.yml", hosts, lambda h: LocalConnector(h.name),
                          extra_vars={"root": str(project / "out")}, templates_dir=project / "templates",
                          on_event=events.append, **kw)
    return report, events


def statuses(report, host):
    return {r.task: r.status for r in report.for_host(host)}


def test_first_run_changes_second_run_is_all_ok(project):
    hosts = [Host("h1", vars={"color": "blue"}), Host("h2", vars={"color": "red"})]
    first, events = run(project, hosts)
    assert first.ok, first.failures
    assert statuses(first, "h1") == {
        "gather facts": "ok", "app dir": "changed", "config from template": "changed", "static file": "changed",
        "inline content": "changed", "one-time init": "changed", "read it back": "ok",
        "check what was read": "ok", "marker files": "changed", "wait for the file": "ok",
        "note config change": "changed",
    }
    base = project / "out" / "h2"
    assert (base / "etc" / "app.conf").read_text() == (
        f"# managed by paasops\nhost=h2\ncolor=red\ndist={_local_facts()['distribution']['id']}\n")
    assert oct((base / "etc" / "app.conf").stat().st_mode & 0o777) == "0o640"
    assert oct((base / "etc").stat().st_mode & 0o777) == "0o750"
    assert (base / "etc" / "motd.txt").read_text() == "welcome\n"
    assert '"color": "red"' in (base / "etc" / "settings.json").read_text()
    assert (base / "handler.log").read_text() == "changed\n"

    second, _ = run(project, hosts)
    assert second.ok
    for host in ("h1", "h2"):
        recap = second.recap[host]
        assert (recap.changed, recap.failed) == (0, 0), statuses(second, host)
    assert (base / "handler.log").read_text() == "changed\n"  # no change, no handler


def test_check_mode_changes_nothing_and_shows_the_diff(project):
    hosts = [Host("h1", vars={"color": "blue"})]
    run(project, hosts)
    conf = project / "out" / "h1" / "etc" / "app.conf"
    before = conf.read_text()
    report, _ = run(project, [Host("h1", vars={"color": "green"})], check=True, diff=True)
    assert report.ok and report.check
    result = next(r for r in report.results if r.task == "config from template")
    assert result.status == "changed" and result.check
    assert result.message.startswith("would: write ")
    assert "-color=blue\n+color=green\n" in result.diff
    assert conf.read_text() == before  # nothing applied
    assert statuses(report, "h1")["static file"] == "ok"


def test_a_failing_task_fails_only_its_host(project):
    playbook = project / "playbooks" / "site.yml"
    playbook.write_text(SITE.replace(
        "    - name: one-time init\n",
        "    - name: refuse red\n      shell: test {{ color }} != red\n    - name: one-time init\n"))
    hosts = [Host("h1", vars={"color": "blue"}), Host("h2", vars={"color": "red"})]
    report, _ = run(project, hosts)
    assert report.failed_hosts == ["h2"]
    assert report.failures["h2"].startswith("refuse red: command 'test red != red' exited 1")
    assert statuses(report, "h2")["refuse red"] == "failed"
    assert "one-time init" not in statuses(report, "h2")
    assert statuses(report, "h1")["one-time init"] == "changed"
    assert (report.recap["h2"].failed, report.recap["h1"].failed) == (1, 0)


def test_unreachable_host_is_recorded(project):
    def connect(host):
        if host.name == "ghost":
            raise ConnectionFailed("connection refused", where="ghost")
        return LocalConnector(host.name)
    report = run_playbook(project / "playbooks" / "site.yml",
                          [Host("ghost", vars={"color": "x"}), Host("h1", vars={"color": "blue"})], connect,
                          extra_vars={"root": str(project / "out")}, templates_dir=project / "templates")
    assert report.unreachable == {"ghost": "ghost: connection refused"}
    assert report.recap["ghost"].unreachable == 1 and report.recap["h1"].failed == 0
    assert report.failed_hosts == ["ghost"]


def test_wait_for_port(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    (tmp_path / "pb.yml").write_text(textwrap.dedent(f"""\
        - hosts: all
          gather_facts: false
          tasks:
            - {{name: open, wait_for: {{port: {port}, timeout: 5}}}}
            - {{name: closed, wait_for: {{port: {port}, state: stopped, timeout: 1, sleep: 0.2}}}}
        """))
    try:
        report = run_playbook(tmp_path / "pb.yml", [Host("h1")], lambda h: LocalConnector(h.name))
    finally:
        server.close()
    assert statuses(report, "h1") == {"open": "ok", "closed": "failed"}
    assert report.failures["h1"].startswith(f"closed: timeout after 1s waiting for 127.0.0.1:{port} to be stopped")


def _local_facts():
    return parse_host_facts(LocalConnector().run(host_facts_command()).stdout)


@pytest.mark.skipif(_local_facts()["systemd"], reason="PID 1 is systemd here: the fallback supervisor is not used")
@pytest.mark.skipif(not os.access("/run", os.W_OK), reason="the fallback supervisor keeps pidfiles in /run/paasops")
def test_fallback_supervisor_starts_restarts_and_stops(tmp_path):
    name = f"paasops-test-{uuid.uuid4().hex[:8]}"
    tasks = {
        "start": f"{{name: s, service: {{name: {name}, state: started, command: 'sleep 300'}}}}",
        "restart": f"{{name: s, service: {{name: {name}, state: restarted, command: 'sleep 300'}}}}",
        "stop": f"{{name: s, service: {{name: {name}, state: stopped}}}}",
    }
    pidfile = Path(f"/run/paasops/{name}.pid")

    def play(which, check=False):
        (tmp_path / "pb.yml").write_text(f"- hosts: all\n  tasks:\n    - {tasks[which]}\n")
        report = run_playbook(tmp_path / "pb.yml", [Host("h1")], lambda h: LocalConnector(h.name), check=check)
        assert report.ok, report.failures
        return report.results[-1].status

    try:
        assert play("start") == "changed"
        pid = int(pidfile.read_text())
        assert play("start") == "ok"
        assert play("stop", check=True) == "changed" and int(pidfile.read_text()) == pid
        assert play("restart") == "changed"
        assert int(pidfile.read_text()) != pid
        assert play("stop") == "changed"
        assert not pidfile.exists()
        assert play("stop") == "ok"
    finally:
        if pidfile.exists():
            play("stop")
        Path(f"/var/log/paasops/{name}.log").unlink(missing_ok=True)


def test_changed_when_is_evaluated_on_a_failure_that_failed_when_forgives(project):
    """A command that exits non-zero under `failed_when: false` is ok, and its `changed_when` decides `changed`
    (as in Ansible): `test -e` of a missing file exits 1, so `rc == 0` is false → ok, and true → changed."""
    playbook = project / "playbooks" / "site.yml"
    playbook.write_text("- hosts: all\n  tasks:\n"
                        "    - name: probe missing\n      command: test -e {{ root }}/nope\n      register: probe\n"
                        "      failed_when: false\n      changed_when: probe.rc == 0\n"
                        "    - name: probe missing, counted\n      command: test -e {{ root }}/nope\n"
                        "      register: again\n      failed_when: again.rc > 1\n      changed_when: again.rc == 1\n")
    report, _ = run(project, [Host("h1")])
    assert report.ok, report.failures
    assert statuses(report, "h1") == {"gather facts": "ok", "probe missing": "ok", "probe missing, counted": "changed"}
