"""`paasops patch --serial N`: a batch's hosts are all cordoned (no new placements) before the first is drained,
so one host's replicas are not moved onto the next host of the batch; a drain refused up front undoes the run's
own cordon. The service is stood in for by a small object answering the calls the run makes (no I/O)."""

from __future__ import annotations

from types import SimpleNamespace

from paasops.automation.playbook import load_playbook
from paasops.errors import ConflictError
from paasops.maintenance import Patcher
from paasops.results import CordonResult, UndrainResult

PLAYBOOK = "- hosts: all\n  tasks:\n    - name: nothing\n      command: /bin/true\n"
HOSTS = ("lab1", "lab2", "lab3")


class RecordingService:
    def __init__(self, *, refuse: str | None = None, interrupt: bool = False, cordoned: frozenset = frozenset()):
        self.calls: list[tuple[str, str]] = []
        self.refuse, self.interrupt, self.already = refuse, interrupt, cordoned

    def engines(self):
        return [SimpleNamespace(id=name, status="up") for name in HOSTS]

    def cordon_engine(self, engine_id):
        self.calls.append(("cordon", engine_id))
        return CordonResult(host=engine_id, changed=engine_id not in self.already)

    def drain_engine(self, engine_id, on_progress=None):
        self.calls.append(("drain", engine_id))
        if self.interrupt:
            raise KeyboardInterrupt
        if engine_id == self.refuse:
            raise ConflictError(f"cannot drain {engine_id}: app web does not fit", where=f"engine {engine_id}")
        raise KeyboardInterrupt  # the drains after the refused one are not this test's business: stop there

    def undrain_engine(self, engine_id):
        self.calls.append(("undrain", engine_id))
        return UndrainResult(host=engine_id, changed=True)

    def record_event(self, type, *, host=None, message="", data=None):
        pass


def patcher(tmp_path, service, serial):
    (tmp_path / "pb.yml").write_text(PLAYBOOK)
    hosts = [SimpleNamespace(name=name, address=f"10.0.0.{i}", vars={}) for i, name in enumerate(HOSTS, 1)]
    return Patcher(service, load_playbook(tmp_path / "pb.yml"), hosts, serial=serial,  # type: ignore[arg-type]
                   connect=lambda h: None)


def test_a_batch_is_cordoned_whole_before_its_first_drain(tmp_path):
    service = RecordingService(interrupt=True)
    report = patcher(tmp_path, service, serial=2).run()
    assert service.calls == [("cordon", "lab1"), ("cordon", "lab2"), ("drain", "lab1")]
    assert {h.host for h in report.failed} == {"lab1", "lab2"}  # both left unschedulable, and the report says so
    assert all(h.drained for h in report.failed)
    assert report.host("lab3").status == "untouched"


def test_a_refused_drain_lifts_the_cordon_this_run_set_and_not_one_set_before(tmp_path):
    service = RecordingService(refuse="lab1")
    report = patcher(tmp_path, service, serial=2).run()
    assert service.calls[:4] == [("cordon", "lab1"), ("cordon", "lab2"), ("drain", "lab1"), ("undrain", "lab1")]
    refused = report.host("lab1")
    assert refused.status == "failed" and not refused.drained and "does not fit" in (refused.output or "")

    before = RecordingService(refuse="lab1", cordoned=frozenset({"lab1"}))  # an admin had cordoned lab1 already
    patcher(tmp_path, before, serial=2).run()
    assert ("undrain", "lab1") not in before.calls


def test_one_host_at_a_time_is_drained_without_a_cordon(tmp_path):
    service = RecordingService(interrupt=True)
    patcher(tmp_path, service, serial=1).run()
    assert service.calls == [("drain", "lab1")]
