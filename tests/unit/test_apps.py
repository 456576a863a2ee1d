"""AppManager's deployment record: intent written before any container starts (fakes, no engine)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from paasops.auth.vault import SecretVault
from paasops.errors import PlacementError, StoreUnavailable, UserInputError
from paasops.service.apps import AppManager, release_of
from paasops.service.deploy import Replica
from paasops.spec import parse_app_spec, spec_hash
from paasops.store.records import App
from paasops.vocabulary import DEPLOY_ACTIVE, DEPLOY_PENDING


class FakeStore:
    def __init__(self, app: App | None = None, fail: bool = False, puts_before_failing: int = 0):
        self.apps = {app.name: app} if app else {}
        self.fail = fail
        self.puts_left = puts_before_failing
        self.log: list[tuple] = []

    def get_app(self, name):
        return self.apps.get(name)

    def put_app(self, app):
        if self.fail and self.puts_left <= 0:
            raise StoreUnavailable("cannot reach RethinkDB", where="db:28015")
        self.puts_left -= 1
        self.log.append(("put", app.state, dict(app.previous) if app.previous else None))
        self.apps[app.name] = App(**vars(app))
        return app


    def list_apps(self):
        return list(self.apps.values())

    def delete_app(self, name):
        self.log.append(("delete", name))
        return self.apps.pop(name, None) is not None


class FakeApps(AppManager):
    def __init__(self, store: FakeStore, start_ok: bool = True, placeable: bool = True, engines_up: bool = True):
        cluster = SimpleNamespace(store=store, containers=lambda app=None: [], operate=lambda *a, **k: None,
                                  record=lambda *a, **k: None, engines={"h1": SimpleNamespace(placeable=engines_up)})
        super().__init__(cluster, images=None)  # type: ignore[arg-type]
        self.start_ok = start_ok
        self.placeable = placeable

    def start_replicas(self, spec, deployment, count, *, user=None, progress=lambda _: None):
        if not self.placeable:
            raise PlacementError("no host can take the replicas", where=spec.name)
        self.cluster.store.log.append(("start", count))
        return [Replica(i, status="running" if self.start_ok else "failed") for i in range(1, count + 1)]


SPEC = parse_app_spec({"name": "web", "image": "hello:2"})
OLD = App("web", {"name": "web", "image": "hello:1"}, 2, "d1", "h-old")


def test_the_record_is_written_pending_before_any_container_starts_then_committed():
    store = FakeStore(OLD)
    result = FakeApps(store).deploy(SPEC, 3)
    previous = {"deployment_id": "d1", "spec_hash": "h-old", "count": 2, "spec": OLD.spec, "secrets": {}}
    assert store.log == [("put", DEPLOY_PENDING, previous), ("start", 3), ("put", DEPLOY_ACTIVE, None)]
    assert result.ok and store.apps["web"].spec_hash == spec_hash(SPEC)


def test_a_store_failure_starts_nothing_and_says_503():
    store = FakeStore(OLD, fail=True)
    with pytest.raises(StoreUnavailable) as caught:
        FakeApps(store).deploy(SPEC, 3)
    assert caught.value.http_status == 503 and store.log == []


def test_a_store_failure_at_commit_leaves_the_pending_record_to_recover():
    store = FakeStore(None, fail=True, puts_before_failing=1)
    with pytest.raises(StoreUnavailable):
        FakeApps(store).deploy(SPEC, 2)
    assert store.log == [("put", DEPLOY_PENDING, None), ("start", 2)]
    assert store.apps["web"].state == DEPLOY_PENDING and store.apps["web"].count == 2


def test_any_store_error_is_a_503():
    store = FakeStore(None)
    store.put_app = lambda app: (_ for _ in ()).throw(OSError("disk full"))  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable, match="could not record web's deployment .*disk full"):
        FakeApps(store).deploy(SPEC, 1)
    assert store.log == []


@pytest.mark.parametrize("before", [None, OLD], ids=["new app", "redeploy"])
def test_an_unplaceable_deploy_rolls_its_record_back(before):
    store = FakeStore(before)
    with pytest.raises(PlacementError):
        FakeApps(store, placeable=False).deploy(SPEC, 3)
    assert store.apps.get("web") == before


def test_release_of():
    assert release_of(None) is None
    assert release_of(OLD) == {"deployment_id": "d1", "spec_hash": "h-old", "count": 2, "spec": OLD.spec,
                               "secrets": {}}


def test_a_rolled_back_release_keeps_its_owner_team_and_sealed_secrets(tmp_path):
    vault = SecretVault(tmp_path)
    old_sealed, new_sealed = vault.seal_all("web", {"TOKEN": "old"}), vault.seal_all("web", {"TOKEN": "new"})
    old = App("web", OLD.spec, 2, "d1", "h-old", owner="bob", team="ops", secrets=old_sealed)
    pending = App("web", SPEC.to_dict(), 3, "d2", spec_hash(SPEC), state=DEPLOY_PENDING, previous=release_of(old),
                  owner="bob", team="ops", secrets=new_sealed)
    store = FakeStore(pending)
    apps = FakeApps(store, placeable=False)
    apps._vault = vault
    apps.cluster.event_log = SimpleNamespace(hide=lambda values: None)  # type: ignore[attr-defined]
    assert apps.finish(pending) is False
    back = store.apps["web"]
    assert (back.owner, back.team, back.deployment_id) == ("bob", "ops", "d1")
    assert vault.open_all("web", back.secrets) == {"TOKEN": "old"}


def pending_over(before: App | None) -> App:
    return App("web", SPEC.to_dict(), 3, "d2", spec_hash(SPEC), state=DEPLOY_PENDING, previous=release_of(before))


@pytest.mark.parametrize("before", [None, OLD], ids=["new app", "redeploy"])
def test_a_pending_deployment_that_turns_out_unplaceable_is_rolled_back(before):
    pending = pending_over(before)
    store = FakeStore(pending)
    assert FakeApps(store, placeable=False).finish(pending) is False
    if before is None:
        assert "web" not in store.apps and store.log == [("delete", "web")]
    else:
        back = store.apps["web"]
        assert (back.deployment_id, back.spec_hash, back.count, back.spec, back.state, back.previous) == \
            ("d1", "h-old", 2, OLD.spec, DEPLOY_ACTIVE, None)


def test_a_pending_deployment_waits_while_no_engine_is_up():
    pending = pending_over(OLD)
    store = FakeStore(pending)
    with pytest.raises(PlacementError):
        FakeApps(store, placeable=False, engines_up=False).finish(pending)
    assert store.apps["web"].state == DEPLOY_PENDING and store.log == []


def test_a_pending_deployment_whose_previous_release_lacks_its_spec_stays_pending():
    pending = pending_over(OLD)
    pending.previous = {"deployment_id": "d1", "spec_hash": "h-old", "count": 2}  # written before specs were kept
    store = FakeStore(pending)
    with pytest.raises(PlacementError, match="left pending"):
        FakeApps(store, placeable=False).finish(pending)
    assert store.apps["web"].state == DEPLOY_PENDING


def test_a_rollback_destroys_only_the_pending_deployments_own_replicas():
    pending = pending_over(OLD)
    store = FakeStore(pending)
    apps = FakeApps(store, placeable=False)
    mine = SimpleNamespace(id="c-new", reserving=True, spec_hash=pending.spec_hash, deployment="d2", state="running")
    theirs = SimpleNamespace(id="c-old", reserving=True, spec_hash=pending.spec_hash, deployment="d1", state="running")
    destroyed: list[str] = []
    apps.cluster.containers = lambda app=None: [mine, theirs]
    apps.cluster.operate = lambda action, cid, user=None: destroyed.append(cid)
    assert apps.finish(pending) is False
    assert destroyed == ["c-new"] and store.apps["web"].deployment_id == "d1"


ENV_OLD = parse_app_spec({"name": "web", "image": "hello:1", "env": {"GREETING": "hi"}})
ENV_NEW = parse_app_spec({"name": "web", "image": "hello:1", "env": {"GREETING": "hello"}})


def test_a_changed_env_alone_is_a_new_release_that_replaces_every_replica():
    store = FakeStore(App("web", ENV_OLD.stored(), 2, "d1", spec_hash(ENV_OLD)))
    result = FakeApps(store).deploy(ENV_NEW, 2)
    assert result.new_release and result.deployment != "d1" and store.apps["web"].spec_hash == spec_hash(ENV_NEW)
    assert [(c.field, c.old, c.new) for c in result.changes] == [("env.GREETING", "hi", "hello")]
    assert store.log[0][1] == DEPLOY_PENDING  # the new-deployment path: start new, then remove old


@pytest.mark.parametrize("stored_hash", ["current", "legacy"])
def test_the_same_spec_is_the_same_release_whatever_rule_hashed_its_record(stored_hash):
    from paasops.spec import legacy_spec_hash

    hash_ = spec_hash(ENV_OLD) if stored_hash == "current" else legacy_spec_hash(ENV_OLD)
    store = FakeStore(App("web", ENV_OLD.stored(), 1, "d1", hash_))
    apps = FakeApps(store)
    assert apps.release_change(ENV_OLD, store.apps["web"]) == (False, [])
    result = apps.deploy(ENV_OLD, 2)  # a scale: same deployment, the record keeps its hash
    assert (result.new_release, result.deployment, result.spec_hash) == (False, "d1", hash_)
    assert store.apps["web"].spec_hash == hash_ and store.apps["web"].count == 2
    # A legacy record with a changed env is a new release all the same.
    assert apps.release_change(ENV_NEW, store.apps["web"])[0]


EXPOSED = parse_app_spec({"name": "web", "image": "hello:1", "ports": ["0:80"],
                          "expose": {"port": 80, "hostnames": ["web.example.test"]}})


def test_a_hostname_another_app_is_routed_on_is_refused_before_anything_is_written():
    other = App("shop", {"name": "shop", "image": "x", "expose": {"port": 80, "hostnames": ["web.example.test"]}},
                1, "d9", "h9")
    store = FakeStore(other)
    apps = FakeApps(store)
    for attempt in (lambda: apps.deploy(EXPOSED, 1), lambda: apps.dry_run(EXPOSED, 1)):
        with pytest.raises(UserInputError, match="web.example.test/ is already routed to app 'shop'"):
            attempt()
    assert store.log == [] and sorted(store.apps) == ["shop"]


def test_changing_only_where_an_app_is_routed_is_no_new_release_but_is_kept():
    store = FakeStore(App("web", EXPOSED.stored(), 1, "d1", spec_hash(EXPOSED)))
    moved = parse_app_spec({**EXPOSED.stored(), "expose": {"port": 80, "tcp": 18080}})
    result = FakeApps(store).deploy(moved, 1)
    assert (result.new_release, result.deployment) == (False, "d1")
    assert store.apps["web"].spec["expose"] == {"port": 80, "tcp": 18080, "hostnames": None, "path": "/",
                                               "https_redirect": False}


def test_a_deploy_under_way_holds_its_routes_against_another_apps():
    apps = FakeApps(FakeStore())
    shop = parse_app_spec({"name": "shop", "image": "x", "expose": {"port": 80, "hostnames": ["web.example.test"]}})
    with apps.claiming(shop):  # shop's record is not written yet
        with pytest.raises(UserInputError, match="already routed to app 'shop'"):
            apps.deploy(EXPOSED, 1)
        with apps.claiming(EXPOSED.model_copy(update={"name": "shop"})):  # its own claim never conflicts
            pass
    assert apps.deploy(EXPOSED, 1).ok  # released once shop's deploy ended
