"""The runner with fake connectors: results, recap, failures per host, unreachable hosts, events."""

from __future__ import annotations

import textwrap
import threading
from dataclasses import dataclass, field

import pytest

from paasops.automation import (
    HostUnreachable,
    PlayStarted,
    RunFinished,
    TaskFinished,
    TaskStarted,
    parse_playbook,
    run_playbook,
)
from paasops.automation.templating import evaluate, render
from paasops.connectors.base import CommandResult, Connector
from paasops.errors import ConnectionFailed

OS_RELEASE = "ID=debian\nVERSION_ID=12\nVERSION_CODENAME=bookworm\n"


@dataclass
class FakeHost:
    name: str
    address: str = "10.0.0.1"
    vars: dict = field(default_factory=dict)
    groups: tuple = ()


class FakeConnector(Connector):
    """Answers fact probes from canned text, records everything else, fails on request."""

    def __init__(self, name, fail_on=None, drop=False):
        self.name, self.fail_on, self.drop = name, fail_on, drop
        self.commands: list[str] = []
        self.files: dict[str, bytes] = {}
        self.closed = False

    def run(self, command, *, sudo=False, timeout=None, stdin=None):
        if self.drop:
            raise ConnectionFailed("connection reset by peer", where=self.name)
        if command.startswith("echo '@@paasops-fact"):
            return CommandResult(command, 0, "@@paasops-fact distribution\n" + OS_RELEASE +
                                 "@@paasops-fact cpu_count\n2\n", "")
        self.commands.append(("sudo " if sudo else "") + command)
        if self.fail_on and self.fail_on in command:
            return CommandResult(command, 3, "", "boom")
        return CommandResult(command, 0, f"out of {self.name}\n", "")

    def put(self, data, path, *, mode=None, sudo=False):
        self.files[path] = data

    def get(self, path, *, sudo=False):
        return self.files.get(path)

    def close(self):
        self.closed = True


PLAYBOOK = textwrap.dedent("""\
    - name: demo
      hosts: all
      vars: {greeting: "hi {{ inventory_hostname }}"}
      tasks:
        - name: first
          shell: echo {{ greeting }} on {{ facts.distribution.codename }}
          register: r
        - name: second
          shell: step2 {{ r.stdout }}
          become: true
          notify: bounce
        - name: only on b
          shell: echo b
          when: inventory_hostname == 'b'
        - name: third
          shell: step3
      handlers:
        - name: bounce
          shell: bounce
    """)


def run(hosts, connectors, text=PLAYBOOK, **kw):
    events = []
    report = run_playbook(parse_playbook(text, "/tmp/pb.yml"), hosts, lambda h: connectors[h.name],
                          on_event=events.append, **kw)
    return report, events


def test_each_host_runs_its_tasks_with_its_variables():
    conns = {n: FakeConnector(n) for n in "ab"}
    report, events = run([FakeHost("a"), FakeHost("b")], conns)
    assert conns["a"].commands == ["echo hi a on bookworm", "sudo step2 out of a", "step3", "bounce"]
    assert conns["b"].commands == ["echo hi b on bookworm", "sudo step2 out of b", "echo b", "step3", "bounce"]
    assert report.failed_hosts == [] and report.ok
    recap = report.recap["a"]
    assert (recap.ok, recap.changed, recap.skipped, recap.failed) == (5, 4, 1, 0)  # gather facts is ok
    assert all(c.closed for c in conns.values())
    assert isinstance(events[0], PlayStarted) and isinstance(events[-1], RunFinished)
    started = [e for e in events if isinstance(e, TaskStarted)]
    finished = [e for e in events if isinstance(e, TaskFinished)]
    assert len(started) == len(finished) == len(report.results)


def test_a_failing_host_stops_alone():
    conns = {"a": FakeConnector("a", fail_on="step2"), "b": FakeConnector("b")}
    report, _ = run([FakeHost("a"), FakeHost("b")], conns)
    assert conns["a"].commands == ["echo hi a on bookworm", "sudo step2 out of a"]
    assert "step3" in conns["b"].commands
    assert report.failed_hosts == ["a"]
    assert report.failures["a"].startswith("second: command 'step2 out of a' exited 3: boom")
    assert report.recap["a"].failed == 1


def test_unreachable_at_connect_and_at_first_command():
    def connect(host):
        if host.name == "gone":
            raise ConnectionFailed("no route to host", where="gone")
        return conns[host.name]
    conns = {"drop": FakeConnector("drop", drop=True), "ok": FakeConnector("ok")}
    events = []
    report = run_playbook(parse_playbook(PLAYBOOK, "/tmp/pb.yml"),
                          [FakeHost("gone"), FakeHost("drop"), FakeHost("ok")], connect, on_event=events.append)
    assert report.unreachable == {"gone": "gone: no route to host", "drop": "drop: connection reset by peer"}
    assert report.recap["gone"].unreachable == 1 and report.recap["drop"].unreachable == 1
    assert sorted(report.failed_hosts) == ["drop", "gone"]
    assert report.recap["ok"].failed == 0
    assert {e.host for e in events if isinstance(e, HostUnreachable)} == {"gone", "drop"}


def test_check_mode_applies_nothing_and_reports_would_change():
    conns = {"a": FakeConnector("a")}
    text = "- hosts: all\n  tasks:\n    - name: w\n      copy: {content: \"x\\n\", dest: /etc/x}\n"
    report, _ = run([FakeHost("a")], conns, text=text, check=True, diff=True)
    result = report.results[-1]
    assert result.status == "changed" and result.check
    assert result.message == "would: write /etc/x (2 bytes, mode 0644)"
    assert "+x" in result.diff
    assert conns["a"].files == {} and conns["a"].commands == ["stat -L -c '%F|%a|%U|%G|%s' -- /etc/x 2>/dev/null || true"]


def test_ignore_errors_loop_and_failed_when():
    conns = {"a": FakeConnector("a", fail_on="bad")}
    text = textwrap.dedent("""\
        - hosts: all
          gather_facts: false
          tasks:
            - {name: tolerated, shell: bad, ignore_errors: true, register: t}
            - {name: loop, shell: "echo {{ item }}", loop: [1, 2], when: item > 1, register: l}
            - {name: judged, shell: bad, failed_when: "t.rc != 3"}
            - {name: report, debug: {msg: "{{ t.rc }} {{ l.results | length }} {{ l.changed }}"}}
        """)
    report, _ = run([FakeHost("a")], conns, text=text)
    statuses = [(r.task, r.status, r.ignored) for r in report.results]
    assert statuses == [("tolerated", "failed", True), ("loop", "changed", False),
                        ("judged", "changed", False), ("report", "ok", False)]
    assert report.results[-1].message == "3 2 True"
    assert report.ok and report.recap["a"].ignored == 1


def test_template_error_fails_the_task_with_the_variable_name():
    text = "- hosts: all\n  gather_facts: false\n  tasks:\n    - {name: t, shell: 'echo {{ nope }}'}\n"
    report, _ = run([FakeHost("a")], {"a": FakeConnector("a")}, text=text)
    assert report.results[0].status == "failed"
    assert report.results[0].message == "undefined variable: 'nope' is undefined"


def test_hosts_pattern_selects_groups_and_names():
    text = "- hosts: web:db1\n  gather_facts: false\n  tasks:\n    - {name: t, shell: x}\n"
    hosts = [FakeHost("w1", groups=("web",)), FakeHost("db1"), FakeHost("db2")]
    report, _ = run(hosts, {h.name: FakeConnector(h.name) for h in hosts}, text=text)
    assert {r.host for r in report.results} == {"w1", "db1"}


def test_hosts_run_in_parallel_up_to_forks():
    barrier = threading.Barrier(3, timeout=5)

    class Waiting(FakeConnector):
        def run(self, command, **kw):
            if command == "sync":
                barrier.wait()  # deadlocks (then times out) unless 3 hosts run at once
            return super().run(command, **kw)
    hosts = [FakeHost(n) for n in "abc"]
    text = "- hosts: all\n  gather_facts: false\n  tasks:\n    - {name: t, shell: sync}\n"
    report, _ = run(hosts, {h.name: Waiting(h.name) for h in hosts}, text=text, forks=3)
    assert report.ok


@pytest.mark.parametrize("expr, expected", [
    ("{{ n }}", 3), ("{{ items }}", [1, 2]), ("n={{ n }}", "n=3"), ("plain", "plain"),
    ({"a": ["{{ n + 1 }}"]}, {"a": [4]}),
])
def test_render_keeps_native_types(expr, expected):
    assert render(expr, {"n": 3, "items": [1, 2]}) == expected


@pytest.mark.parametrize("expr, expected", [
    ("n > 2", True), ("{{ n > 5 }}", False), (True, True), (["n == 3", "flag | bool"], True),
    ("missing is defined", False), ("r is failed", True), ("r is changed", False),
])
def test_evaluate(expr, expected):
    assert evaluate(expr, {"n": 3, "flag": "yes", "r": {"failed": True}}) is expected


def test_become_from_task_then_play_then_inventory():
    text = textwrap.dedent("""\
        - hosts: all
          gather_facts: false
          tasks:
            - {name: inherit, shell: a}
            - {name: never, shell: b, become: false}
        - hosts: all
          become: false
          gather_facts: false
          tasks:
            - {name: play says no, shell: c}
        """)
    conns = {"a": FakeConnector("a")}
    run([FakeHost("a", vars={"ansible_become": "yes"})], conns, text=text)
    assert conns["a"].commands == ["sudo a", "b", "c"]


def test_no_log_hides_message_and_diff():
    text = ("- hosts: all\n  gather_facts: false\n  tasks:\n"
            "    - {name: key, copy: {content: SECRET, dest: /k}, no_log: true}\n")
    report, _ = run([FakeHost("a")], {"a": FakeConnector("a")}, text=text, diff=True)
    result = report.results[0]
    assert result.status == "changed" and "SECRET" not in result.message + result.diff


def test_progress_renderer_shows_failures_and_recap():
    from io import StringIO

    from rich.console import Console

    from paasops.cli.progress import PlaybookProgress

    out = StringIO()
    conns = {"a": FakeConnector("a", fail_on="step2"), "b": FakeConnector("b")}
    with PlaybookProgress(["a", "b"], Console(file=out, width=200), verbose=True, diff=True) as progress:
        report = run_playbook(parse_playbook(PLAYBOOK, "/tmp/pb.yml"), [FakeHost("a"), FakeHost("b")],
                              lambda h: conns[h.name], on_event=progress.on_event)
        progress.recap(report)  # already printed at RunFinished: not twice
    text = out.getvalue()
    assert "changed: [b] first" in text
    assert "failed: [a] second — command 'step2 out of a' exited 3: boom" in text
    assert text.count("PLAY RECAP") == 1
    assert "a : ok=2  changed=1  unreachable=0  failed=1  skipped=0  ignored=0" in text


def test_facts_are_lazy_without_gather_facts_and_visible_to_play_vars():
    class Counting(FakeConnector):
        probes = 0

        def run(self, command, **kw):
            if command.startswith("echo '@@paasops-fact"):
                Counting.probes += 1
            return super().run(command, **kw)
    text = textwrap.dedent("""\
        - hosts: all
          gather_facts: false
          vars: {release: "{{ facts.distribution.codename }}"}
          tasks:
            - {name: no facts needed, shell: a}
            - {name: needs facts, shell: "echo {{ release }}"}
        """)
    conns = {"a": Counting("a")}
    report, _ = run([FakeHost("a")], conns, text=text)
    assert report.ok, report.failures
    assert conns["a"].commands == ["a", "echo bookworm"] and Counting.probes == 1


def test_tags_select_tasks():
    text = textwrap.dedent("""\
        - hosts: all
          gather_facts: false
          tasks:
            - {name: one, shell: one, tags: [docker]}
            - {name: two, shell: two, tags: agent}
            - {name: three, shell: three, tags: always}
        """)
    conns = {"a": FakeConnector("a")}
    run([FakeHost("a")], conns, text=text, tags={"docker"})
    assert conns["a"].commands == ["one", "three"]
    conns = {"a": FakeConnector("a")}
    run([FakeHost("a")], conns, text=text, skip_tags={"docker"})
    assert conns["a"].commands == ["two", "three"]
