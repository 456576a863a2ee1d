"""A rolling update paused on a failure stays as it is: reconcile starts none of its missing replicas and keeps
both releases' (pure: reconcile.diff on data)."""

from __future__ import annotations

from paasops.placement import HostSnapshot
from paasops.service.containers import ContainerView
from paasops.service.reconcile import diff
from paasops.store.records import App
from paasops.vocabulary import DEPLOY_PAUSED, DEPLOY_PENDING, LABEL_DEPLOYMENT

PREVIOUS = {"deployment_id": "d1", "spec_hash": "h-old", "count": 3, "spec": {"image": "hello:1"}}
HOSTS = [HostSnapshot(id="a", total_cpu=4, total_mem_mb=8192, reserved_cpu=0, reserved_mem_mb=0, healthy=True,
                      status="up")]


def ctr(id_: str, hash_: str, deployment: str, index: int) -> ContainerView:
    return ContainerView(id=id_, name=f"web-{index}", engine_id="a", image="img", state="running", created=1.0,
                         labels={"paasops.app": "web", "paasops.spec-hash": hash_, "paasops.replica": str(index),
                                 LABEL_DEPLOYMENT: deployment})


# 3 replicas of the old release, 1 of the new one (its batch failed and the update paused)
RUNNING = [ctr("o1", "h-old", "d1", 1), ctr("o2", "h-old", "d1", 2), ctr("o3", "h-old", "d1", 3),
           ctr("n4", "h-new", "d2", 4)]


def app(previous: dict) -> App:
    return App("web", {"image": "hello:2"}, count=3, deployment_id="d2", spec_hash="h-new", state=DEPLOY_PENDING,
               previous=previous)


def test_a_paused_update_is_left_as_it_is():
    paused = app({**PREVIOUS, DEPLOY_PAUSED: {"batch": 1, "of": 3, "why": "replica 4: unhealthy"}})
    plan = diff([paused], RUNNING, HOSTS, now=100.0)
    assert plan.actions == []  # no missing new replica started, no old one removed


def test_a_pending_update_cut_by_a_crash_is_completed():
    plan = diff([app(PREVIOUS)], RUNNING, HOSTS, now=100.0)
    assert [(a.kind, a.reason, a.count) for a in plan.actions] == [("create", "missing", 2)]
