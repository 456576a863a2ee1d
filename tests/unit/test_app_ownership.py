"""AppManager: an app belongs to who deployed it; others get 404 (403 for its name on a deploy); secrets sealed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from paasops.auth.principal import Principal
from paasops.auth.vault import SecretVault
from paasops.errors import ForbiddenError, NotFoundError
from paasops.service.apps import AppManager
from paasops.service.deploy import Replica
from paasops.service.event_log import EventLog
from paasops.spec import parse_app_spec, spec_hash
from paasops.store.records import SEALED_PREFIX, App
from paasops.store.sqlite import SqliteStore

ADMIN = Principal("root", "admin")
ALICE = Principal("alice", "user", team="red")
CAROL = Principal("carol", "user", team="red")
BOB = Principal("bob", "user")
SPEC = {"name": "web", "image": "hello", "secrets": {"DB_PASSWORD": "hunter2-hunter2"}}


class Apps(AppManager):
    """No engine: starting replicas records what was asked (the spec with its secrets, and the labels)."""

    def __init__(self, store, vault):
        events = EventLog(store)
        cluster = SimpleNamespace(store=store, containers=lambda app=None, foreign=True: [],
                                  operate=lambda *a, **k: None, record=events.record, event_log=events)
        super().__init__(cluster, images=None, vault=vault)  # type: ignore[arg-type]
        self.started: list = []

    def start_replicas(self, spec, deployment, count, *, user=None, progress=lambda _: None):
        record = self.cluster.store.get_app(spec.name)
        self.started.append((spec, record.owner, record.team))
        return [Replica(i, status="running") for i in range(1, count + 1)]


@pytest.fixture
def apps(tmp_path):
    with SqliteStore(tmp_path / "state.db") as store:
        yield Apps(store, SecretVault(tmp_path / "pki"))


def test_an_app_belongs_to_who_deployed_it_and_its_team(apps):
    apps.deploy(parse_app_spec(SPEC), 1, user="alice", who=ALICE)
    app = apps.get("web", who=ALICE)
    assert (app.owner, app.team) == ("alice", "red") and apps.started[-1][1:] == ("alice", "red")
    assert [a.name for a in apps.visible(who=ALICE)] == ["web"] == [a.name for a in apps.visible(who=CAROL)]
    assert apps.visible(who=BOB) == [] and [a.name for a in apps.visible(who=ADMIN)] == ["web"]
    apps.scale("web", 2, user="carol", who=CAROL)  # a teammate acts on it; it stays alice's
    assert apps.get("web").owner == "alice" and apps.started[-1][1] == "alice"


def test_another_account_gets_404_and_403_for_the_name(apps):
    apps.deploy(parse_app_spec(SPEC), 1, user="alice", who=ALICE)
    for act in (lambda: apps.get("web", who=BOB), lambda: apps.scale("web", 0, who=BOB),
                lambda: apps.delete("web", who=BOB)):
        with pytest.raises(NotFoundError, match="no app 'web'"):
            act()
    with pytest.raises(ForbiddenError, match="belongs to another account"):
        apps.deploy(parse_app_spec({"name": "web", "image": "evil"}), 1, user="bob", who=BOB)
    app = apps.get("web")
    assert (app.count, app.owner, app.spec["image"]) == (1, "alice", "hello")
    assert apps.delete("web", who=ADMIN).deleted == "web"


def test_an_app_from_before_ownership_is_the_admins(apps):
    apps.cluster.store.put_app(App("old", {"name": "old", "image": "hello"}, 1, "d1", "h1"))
    with pytest.raises(NotFoundError):
        apps.get("old", who=ALICE)
    with pytest.raises(ForbiddenError):
        apps.deploy(parse_app_spec({"name": "old", "image": "hello:2"}), 1, who=ALICE)
    apps.deploy(parse_app_spec({"name": "old", "image": "hello:2"}), 1, who=ADMIN)
    assert apps.get("old").owner == "root"  # an admin's redeploy gives it an owner


def test_secrets_are_sealed_in_the_record_and_opened_for_the_engine(apps, tmp_path):
    apps.deploy(parse_app_spec(SPEC), 1, user="alice", who=ALICE)
    app = apps.get("web")
    assert app.secrets["DB_PASSWORD"].startswith(SEALED_PREFIX) and "hunter2" not in str(app)
    assert not any(b"hunter2" in f.read_bytes() for f in tmp_path.glob("state.db*"))  # the file and its WAL
    started = apps.started[-1][0]
    assert started.secrets == {"DB_PASSWORD": "hunter2-hunter2"} and spec_hash(started) == app.spec_hash
    again = apps.spec_of("web")  # what scale and reconcile start: the same release
    assert again.secrets == started.secrets and spec_hash(again) == app.spec_hash
    same = apps.deploy(parse_app_spec(SPEC), 1, user="alice", who=ALICE)
    assert same.deployment == app.deployment_id  # unchanged secret: no new release
    rotated = apps.deploy(parse_app_spec({**SPEC, "secrets": {"DB_PASSWORD": "hunter3-hunter3"}}), 1, who=ALICE)
    assert rotated.deployment != app.deployment_id and rotated.spec_hash != app.spec_hash
    assert apps.spec_of("web").secrets == {"DB_PASSWORD": "hunter3-hunter3"}
    events = apps.cluster.store.list_events(limit=None)
    assert events and not any("hunter" in f"{e.message}{e.data}" for e in events)
    apps.delete("web", who=ALICE)
    assert apps.cluster.store.get_app("web") is None


def test_an_account_that_owns_apps_cannot_be_deleted_until_they_go(apps):
    """Else a new account of the same name would inherit the apps and their containers' owner labels."""
    from paasops.auth import passwords
    from paasops.auth.accounts import Accounts
    from paasops.auth.tokens import Tokens
    from paasops.errors import ConflictError

    store = apps.cluster.store
    accounts = Accounts(store, Tokens(store), record=apps.cluster.record)
    store.create_account("alice", passwords.hash_password("alice-password-123"), "user")
    apps.deploy(parse_app_spec(SPEC), 1, user="alice", who=ALICE)
    with pytest.raises(ConflictError, match="still owns apps web"):
        accounts.remove("alice", by="root")
    apps.delete("web", who=ALICE)
    assert accounts.remove("alice", by="root") == {"deleted": "alice"}
