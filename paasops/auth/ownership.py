"""Who may see and act on an app, a container or an event: the resource half of the ACL. Pure.

The rule, applied by every route: an `admin` sees and acts on everything; any other role sees and
acts on what its account owns or its team owns, and on nothing else. A resource without an owner
(deployed before ownership) is the admins' only. What a caller may not see does not exist for it:
reads and acts by name or id answer 404 with the message an absent resource gets, so a name or an
id prefix never tells another account's resource apart from none. The one exception is claiming a
name: a deploy under an app name another account holds cannot pretend the name is free, so it
answers 403 "app X belongs to another account".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, TypeVar

from ..errors import ForbiddenError, NotFoundError
from ..vocabulary import ADMIN_ROLE, LABEL_OWNER, LABEL_TEAM

T = TypeVar("T")


class Who(Protocol):
    """The caller as the rule needs it (an `auth.principal.Principal` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def team(self) -> str | None: ...


def is_admin(who: Who | None) -> bool:
    """None is the service itself (reconcile, recovery): it acts on everything, as an admin does."""
    return who is None or who.role == ADMIN_ROLE


def may_access(who: Who | None, owner: str | None, team: str | None) -> bool:
    """May `who` see and act on a resource of account `owner` (deployed while in `team`)?"""
    if is_admin(who):
        return True
    assert who is not None
    if not owner:  # from before ownership: admins only
        return False
    return owner == who.name or (team is not None and team == who.team)


def labels_owner(labels: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The (owner, team) a container's labels carry; (None, None) on one from before ownership."""
    return labels.get(LABEL_OWNER) or None, labels.get(LABEL_TEAM) or None


def may_access_labels(who: Who | None, labels: Mapping[str, str]) -> bool:
    return may_access(who, *labels_owner(labels))


def owner_labels(owner: str | None, team: str | None) -> dict[str, str]:
    """The labels a replica of an app owned by `owner` (of `team`) is started with."""
    return {**({LABEL_OWNER: owner} if owner else {}), **({LABEL_TEAM: team} if team else {})}


def visible(who: Who | None, items: Iterable[T], owner_of: Callable[[T], tuple[str | None, str | None]]) -> list[T]:
    """The items `who` may see, in their order."""
    return [item for item in items if may_access(who, *owner_of(item))]


def event_visible(who: Who | None, app: str | None, user: str | None, visible_apps: set[str]) -> bool:
    """An event is seen by admins, and otherwise when it is about an app the caller may see, or, about
    no app, when the caller caused it (its own logins, tokens, password changes). Host events and
    other accounts' doings stay the admins'."""
    if is_admin(who):
        return True
    assert who is not None
    return app in visible_apps if app else user == who.name


def no_app(name: str) -> NotFoundError:
    """The answer for an app that does not exist or that the caller may not see: the same one."""
    return NotFoundError(f"no app {name!r}", where="apps")


def taken(name: str) -> ForbiddenError:
    """A deploy under the name of another account's app."""
    return ForbiddenError(f"app {name!r} belongs to another account: choose another name", where="apps")


def check_app(who: Who | None, name: str, owner: str | None, team: str | None) -> None:
    """Raise `no_app` unless `who` may see the app."""
    if not may_access(who, owner, team):
        raise no_app(name)
