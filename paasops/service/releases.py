"""Release history rules, pure: which releases an outcome supersedes, and which release a rollback targets."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ConflictError, NotFoundError, UserInputError
from ..store.records import Release
from ..vocabulary import RELEASE_ACTIVE, RELEASE_SUPERSEDED

# a release that once ran whole: one a rollback may go back to
RAN = frozenset({RELEASE_ACTIVE, RELEASE_SUPERSEDED})
MIN_PREFIX = 4  # characters of a deployment id `--to` needs at least (an id has 12)


def superseded(releases: Sequence[Release], active: str) -> list[Release]:
    """The releases that stop being active now that deployment `active` is (every other active one)."""
    return [r for r in releases if r.outcome == RELEASE_ACTIVE and r.deployment_id != active]


def find_release(releases: Sequence[Release], app: str, to: str) -> Release:
    """The release of `releases` whose deployment id is `to` or starts with it (a unique prefix)."""
    to = to.strip()
    if len(to) < MIN_PREFIX:
        raise UserInputError(f"give at least {MIN_PREFIX} characters of a release id, got {to!r}", where="to")
    exact = [r for r in releases if r.deployment_id == to]
    found = exact or [r for r in releases if r.deployment_id.startswith(to)]
    if not found:
        raise NotFoundError(f"app {app!r} has no release {to!r} in its history (see `paasops apps history {app}`)",
                            where="to")
    if len(found) > 1:
        ids = ", ".join(r.deployment_id for r in found)
        raise ConflictError(f"release {to!r} of app {app!r} is ambiguous: {ids}", where="to")
    return found[0]


def rollback_target(releases: Sequence[Release], app: str, current_id: str, current_hash: str,
                    to: str | None = None) -> Release:
    """The release a rollback of app `app` (now running deployment `current_id`, spec hash `current_hash`)
    deploys: `to` (an id or unique prefix), else the newest release before the current one that ran whole
    and is not the current spec again. `releases` newest first. ConflictError when it is what runs now."""
    if to is not None:
        target = find_release(releases, app, to)
        if target.deployment_id == current_id or target.spec_hash == current_hash:
            raise ConflictError(f"app {app!r} is already running release {target.deployment_id} "
                                f"(spec {target.spec_hash[:12]}): nothing to roll back to", where="to")
        return target
    ids = [r.deployment_id for r in releases]
    older = releases[ids.index(current_id) + 1:] if current_id in ids else releases
    for release in older:
        if release.outcome in RAN and release.spec_hash != current_hash:
            return release
    raise NotFoundError(f"app {app!r} has no earlier release to roll back to (see `paasops apps history {app}`)",
                        where="to")
