"""`paasops rollback`: deploy an app's earlier release again, through the normal deploy path."""

from __future__ import annotations

from ..auth.ownership import Who
from ..errors import ConflictError
from ..results import DeployResult
from ..store.records import App
from ..vocabulary import DEPLOY_PENDING
from .apps import AppManager
from .deploy import Progress
from .releases import rollback_target

ROLLBACK_EVENT = "rollback-app"


def rollback(apps: AppManager, name: str, to: str | None = None, *, user: str | None = None,
             progress: Progress = lambda _: None, who: Who | None = None) -> DeployResult:
    """Deploy release `to` of app `name` (an id or unique prefix; None: the release before the current
    one) again: its stored spec and its sealed secrets, at the app's current count, owner and team kept.

    The rollback is a new release in the history (`data.rollback_to` names the one it restores). 404 for
    an app `who` may not see or a release the history lacks; 409 for the release that runs now.
    """
    app = apps.get(name, who=who)
    if app.state == DEPLOY_PENDING:
        raise ConflictError(f"app {name!r} has a deployment in progress ({app.deployment_id}): roll back "
                            "once it has finished", where=name)
    target = rollback_target(apps.history.releases(name), name, app.deployment_id, app.spec_hash, to)
    spec = apps.spec_for(App(name=name, spec=target.spec, count=app.count, deployment_id=target.deployment_id,
                             spec_hash=target.spec_hash, secrets=dict(target.secrets)))
    with apps.history.note(name, {"rollback_to": target.deployment_id}):
        result = apps.deploy(spec, app.count, user=user, progress=progress, who=who)
    apps.cluster.record(ROLLBACK_EVENT, user=user, app=name,
                        message=f"rolled {name} back to release {target.deployment_id} as {result.deployment}: "
                                f"{sum(r.status == 'running' for r in result.replicas)}/{result.count} running",
                        data={"deployment": result.deployment, "rollback_to": target.deployment_id,
                              "from": app.deployment_id})
    return result
