"""The release history of apps: one row per deployment attempt, written at each outcome of a deploy."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from ..results import DeployResult, ReleaseView
from ..store import Store
from ..store.records import App, Release
from ..store.records import now as clock
from ..vocabulary import (
    DEFAULT_HISTORY_KEEP,
    DEPLOY_PENDING,
    RELEASE_ACTIVE,
    RELEASE_FAILED,
    RELEASE_PAUSED,
    RELEASE_ROLLED_BACK,
    RELEASE_SUPERSEDED,
)
from .releases import superseded

log = logging.getLogger(__name__)


class HasStore(Protocol):
    store: Store


def release_of_record(app: App, *, user: str | None = None, started_at: float = 0.0) -> Release:
    """The release an app record (a deployment) is; its secrets stay sealed as the record keeps them."""
    return Release(app=app.name, deployment_id=app.deployment_id, spec_hash=app.spec_hash, spec=dict(app.spec),
                   count=app.count, user=user, started_at=started_at, secrets=dict(app.secrets))


def previous_release(app: App) -> Release | None:
    """The release a pending record replaces, from its `previous` (None: new app, or not kept whole)."""
    prev = app.previous
    if not prev or "spec" not in prev:
        return None
    return Release(app=app.name, deployment_id=prev["deployment_id"], spec_hash=prev["spec_hash"],
                   spec=dict(prev["spec"]), count=prev["count"], outcome=RELEASE_ACTIVE,
                   secrets=dict(prev.get("secrets") or {}))


def release_view(release: Release, current: str) -> ReleaseView:
    """A release as the API shows it: what ran, who, when, how it ended; never its secrets."""
    return ReleaseView(app=release.app, release=release.deployment_id, spec_hash=release.spec_hash,
                       image=str(release.spec.get("image", "")), count=release.count, user=release.user,
                       started_at=release.started_at, finished_at=release.finished_at, outcome=release.outcome,
                       current=release.deployment_id == current, rollback_to=release.data.get("rollback_to"),
                       why=release.data.get("why"))


class ReleaseHistory:
    """Writes and reads the apps' release history in the store, the last `keep` releases per app.

    The history is a record of what happened, the app record the truth of what should run: a store
    failure while writing history is logged, never fails the deploy it describes (its app record was
    written just before, so the store is rarely the reason).
    """

    def __init__(self, cluster: HasStore, *, keep: int = DEFAULT_HISTORY_KEEP):
        self.cluster = cluster
        self.keep = keep
        self._notes: dict[str, dict[str, Any]] = {}  # app -> data for its next release (a rollback's target)
        self._lock = threading.Lock()

    @property
    def store(self) -> Store:
        return self.cluster.store  # looked up on use: the cluster's store is the service's one

    @contextmanager
    def note(self, name: str, data: dict[str, Any]) -> Iterator[None]:
        """Add `data` to the next release of app `name` recorded meanwhile (a rollback: what it rolls back to)."""
        with self._lock:
            self._notes[name] = data
        try:
            yield
        finally:
            with self._lock:
                self._notes.pop(name, None)

    def releases(self, name: str) -> list[Release]:
        """App `name`'s releases, newest first."""
        return self.store.list_releases(name)

    def views(self, app: App) -> list[ReleaseView]:
        """App `app`'s history as `apps history` shows it (the caller checked who may see the app)."""
        return [release_view(r, app.deployment_id) for r in self.releases(app.name)]

    def started(self, app: App, *, user: str | None = None) -> None:
        """A deploy began: its pending record `app` is written. A new app starts a new history (a name
        deleted and taken again does not inherit the old one's); a release from before the history is
        recorded from the pending record's `previous`, so that it can be rolled back to."""
        try:
            if app.previous is None:
                self.store.delete_releases(app.name)
            else:
                prev = previous_release(app)
                if prev and self.store.get_release(app.name, prev.deployment_id) is None:
                    self.store.put_release(prev)
            with self._lock:
                data = dict(self._notes.get(app.name) or {})
            release = release_of_record(app, user=user, started_at=clock())
            release.data = data
            self.store.put_release(release)
            self.store.trim_releases(app.name, self.keep)
        except Exception as exc:  # the history never fails a deploy (see the class)
            log.warning("release history of %s: could not record %s: %s", app.name, app.deployment_id, exc)

    def outcome(self, app: App, outcome: str, *, why: str | None = None) -> None:
        """Deployment `app` ended with `outcome`; the release active before an active one is superseded."""
        try:
            release = self.store.get_release(app.name, app.deployment_id) or release_of_record(app)
            release.outcome, release.finished_at, release.count = outcome, clock(), app.count
            if why:
                release.data = {**release.data, "why": why}
            self.store.put_release(release)
            if outcome == RELEASE_ACTIVE:
                for old in superseded(self.store.list_releases(app.name), app.deployment_id):
                    old.outcome = RELEASE_SUPERSEDED
                    old.finished_at = old.finished_at or release.finished_at
                    self.store.put_release(old)
        except Exception as exc:  # the history never fails a deploy (see the class)
            log.warning("release history of %s: could not record %s %s: %s", app.name, app.deployment_id,
                        outcome, exc)

    def committed(self, app: App, *, ok: bool = True, why: str | None = None) -> None:
        """Deployment `app` is the app's active one now: active when its replicas all started, else failed."""
        self.outcome(app, RELEASE_ACTIVE if ok else RELEASE_FAILED, why=why)

    def ended(self, app: App, result: DeployResult) -> None:
        """Deployment `app` returned `result`; how it ended is read from the app record the store keeps now
        (whatever path wrote it): still this deployment, active (committed: failed when a replica did not
        start) or pending (paused); another deployment (the previous release put back): rolled back."""
        try:
            now = self.store.get_app(app.name)
        except Exception as exc:  # the history never fails a deploy (see the class)
            log.warning("release history of %s: %s", app.name, exc)
            return
        reasons = [f"replica {f.index}: {f.reason}" + (f" ({f.detail[:120]})" if f.detail else "")
                   for f in result.failures or []] + [f"replica {r.index}: {r.error}" for r in result.failed]
        why = "; ".join(reasons[:5]) or None
        if now is None or now.deployment_id != app.deployment_id:
            self.rolled_back(app, why)
        elif now.state == DEPLOY_PENDING:
            self.outcome(app, RELEASE_PAUSED, why=why)
        else:
            self.committed(now, ok=result.ok, why=why)

    def rolled_back(self, app: App, why: str | None = None) -> None:
        """Pending deployment `app` was undone before it committed: the release it replaced runs on."""
        self.outcome(app, RELEASE_ROLLED_BACK, why=why)

    def pending_rolled_back(self, name: str, why: str | None = None) -> None:
        """App `name`'s pending deployment (its record in the store now) is undone before it committed;
        nothing when the record is not pending."""
        try:
            app = self.store.get_app(name)
        except Exception as exc:  # the history never fails a deploy (see the class)
            log.warning("release history of %s: %s", name, exc)
            return
        if app is not None and app.state == DEPLOY_PENDING:
            self.rolled_back(app, why)
