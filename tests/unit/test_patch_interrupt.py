"""A Ctrl-C in the middle of `paasops patch` ends the run with a report (the host where it stopped named, left
drained, the hosts after it untouched) and the patch-failed / patch-done events, not a traceback. The service
is stood in for by a small object answering the three calls the run makes (no I/O)."""

from __future__ import annotations

from types import SimpleNamespace

from paasops.automation.playbook import load_playbook
from paasops.maintenance import Patcher

PLAYBOOK = "- hosts: all\n  tasks:\n    - name: nothing\n      command: /bin/true\n"


class InterruptedService:
    def __init__(self):
        self.events: list[tuple[str, str | None, dict]] = []

    def engines(self):
        return [SimpleNamespace(id=name, status="up") for name in ("lab1", "lab2")]

    def drain_engine(self, engine_id, on_progress=None):
        raise KeyboardInterrupt

    def record_event(self, type, *, host=None, message="", data=None):
        self.events.append((type, host, data or {}))


def test_ctrl_c_during_a_drain_ends_with_a_report_and_events(tmp_path):
    (tmp_path / "pb.yml").write_text(PLAYBOOK)
    service = InterruptedService()
    hosts = [SimpleNamespace(name="lab1", address="10.0.0.1", vars={}), SimpleNamespace(name="lab2",
                                                                                        address="10.0.0.2", vars={})]
    report = Patcher(service, load_playbook(tmp_path / "pb.yml"), hosts, connect=lambda h: None).run()  # type: ignore[arg-type]
    assert not report.ok and report.stopped
    [failed] = report.failed
    assert failed.host == "lab1" and failed.step == "drain" and "interrupted" in (failed.output or "")
    assert report.host("lab2").status == "untouched"
    types = [t for t, _, _ in service.events]
    assert "patch-failed" in types and types[-1] == "patch-done"
