"""AppManager's history at each outcome, and `rollback`, on a real SQLite store with fake engines (no Docker)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from paasops.auth.principal import Principal
from paasops.auth.vault import SecretVault
from paasops.errors import ConflictError, NotFoundError, PlacementError
from paasops.service.apps import AppManager
from paasops.service.deploy import Replica
from paasops.service.rollback import rollback
from paasops.spec import parse_app_spec
from paasops.store import open_store
from paasops.vocabulary import DEPLOY_PENDING


class Apps(AppManager):
    """Deploys that start nothing: `placeable` False refuses them as no host fits."""

    def __init__(self, store, vault: SecretVault):
        self.events: list[tuple] = []
        cluster = SimpleNamespace(store=store, containers=lambda app=None: [], operate=lambda *a, **k: None,
                                  record=lambda *a, **k: self.events.append((a, k)),
                                  event_log=SimpleNamespace(hide=lambda values: None),
                                  engines={"h1": SimpleNamespace(placeable=True)})
        super().__init__(cluster, images=None, vault=vault)  # type: ignore[arg-type]
        self.placeable = True

    def start_replicas(self, spec, deployment, count, *, user=None, progress=lambda _: None):
        if not self.placeable:
            raise PlacementError("no host can take the replicas", where=spec.name)
        self.started = spec
        return [Replica(i, status="running") for i in range(1, count + 1)]


ALICE, BOB = Principal("alice", "user"), Principal("bob", "user")


def spec(version: str, secret: str):
    return parse_app_spec({"name": "web", "image": f"hello:{version}", "secrets": {"TOKEN": secret}})


@pytest.fixture
def apps(tmp_path):
    with open_store(f"sqlite://{tmp_path / 'state.db'}") as store:
        yield Apps(store, SecretVault(tmp_path))


def outcomes(apps: Apps) -> list[tuple[str, str | None, str]]:
    return [(r.spec["image"], r.user, r.outcome) for r in apps.history.releases("web")]


def test_deploy_outcomes_and_a_rollback_are_the_history(apps):
    v1 = apps.deploy(spec("1", "s1"), 2, user="alice", who=ALICE)
    v2 = apps.deploy(spec("2", "s2"), 2, user="alice", who=ALICE)
    apps.placeable = False
    with pytest.raises(PlacementError):
        apps.deploy(spec("3", "s3"), 2, user="alice", who=ALICE)
    assert outcomes(apps) == [("hello:3", "alice", "rolled-back"), ("hello:2", "alice", "active"),
                              ("hello:1", "alice", "superseded")]
    apps.placeable = True
    apps.scale("web", 4, user="alice", who=ALICE)  # a scale is no release; the rollback keeps the count
    with pytest.raises(NotFoundError, match="no app 'web'"):
        rollback(apps, "web", who=BOB)
    back = rollback(apps, "web", user="alice", who=ALICE)
    assert (back.spec_hash, back.count) == (v1.spec_hash, 4)
    assert (apps.started.image, apps.started.secrets) == ("hello:1", {"TOKEN": "s1"})  # opened by the vault
    record = apps.cluster.store.get_app("web")
    assert (record.owner, record.deployment_id, record.count) == ("alice", back.deployment, 4)
    assert outcomes(apps)[:3] == [("hello:1", "alice", "active"), ("hello:3", "alice", "rolled-back"),
                                  ("hello:2", "alice", "superseded")]
    assert apps.history.releases("web")[0].data == {"rollback_to": v1.deployment}
    assert [a[0] for a, _ in apps.events].count("rollback-app") == 1
    with pytest.raises(ConflictError, match="already running"):
        rollback(apps, "web", v1.deployment, who=ALICE)
    again = rollback(apps, "web", v2.deployment[:6], user="alice", who=ALICE)
    assert again.spec_hash == v2.spec_hash and apps.started.secrets == {"TOKEN": "s2"}


def test_a_pending_deploy_finished_after_a_crash_commits_its_release(apps):
    apps.deploy(spec("1", "s1"), 1, user="alice", who=ALICE)
    store = apps.cluster.store
    record = store.get_app("web")
    # as a crash leaves it: a pending record and its history row, no replica started
    pending = type(record)(**{**vars(record), "deployment_id": "d-crash", "spec_hash": "h-crash",
                              "state": DEPLOY_PENDING, "previous": {"deployment_id": record.deployment_id,
                                                                   "spec_hash": record.spec_hash, "count": 1,
                                                                   "spec": record.spec, "secrets": record.secrets}})
    store.put_app(pending)
    apps.history.started(pending, user="alice")
    with pytest.raises(ConflictError, match="deployment in progress"):
        rollback(apps, "web", who=ALICE)
    assert apps.recover("web") is True
    assert [(r.deployment_id, r.outcome) for r in apps.history.releases("web")] == [
        ("d-crash", "active"), (record.deployment_id, "superseded")]
