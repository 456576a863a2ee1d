"""The ownership rule (auth.ownership): who sees and acts on an app, a container, an event. Pure."""

from __future__ import annotations

import pytest

from paasops.auth.ownership import (
    check_app,
    event_visible,
    labels_owner,
    may_access,
    may_access_labels,
    owner_labels,
    taken,
    visible,
)
from paasops.auth.principal import Principal
from paasops.errors import ForbiddenError, NotFoundError
from paasops.vocabulary import LABEL_OWNER, LABEL_TEAM

ADMIN = Principal("root", "admin")
ALICE = Principal("alice", "user", team="red")
BOB = Principal("bob", "user")
CAROL = Principal("carol", "user", team="red")
JOB = Principal("alice", "user", token="cron", team="red")  # an API token acts for its account


@pytest.mark.parametrize("who, owner, team, allowed", [
    (ADMIN, "bob", None, True),       # an admin sees everything
    (ADMIN, None, None, True),        # ... the apps from before ownership too
    (None, "bob", None, True),        # the service itself (reconcile, recovery)
    (ALICE, "alice", "red", True),    # her own
    (JOB, "alice", "red", True),      # her job's token: hers too
    (CAROL, "alice", "red", True),    # her team's
    (BOB, "alice", "red", False),     # another account's, another team
    (ALICE, "bob", None, False),      # another account's, no team
    (ALICE, None, None, False),       # from before ownership: admins only
    (BOB, None, None, False),
    (BOB, "carol", None, False),      # a team of None never matches another None
    (Principal("dave", "ops", team="red"), "alice", "red", True),  # any non-admin role follows the same rule
    (Principal("dave", "ops"), "alice", "red", False),
])
def test_the_rule(who, owner, team, allowed):
    assert may_access(who, owner, team) is allowed


def test_an_account_named_like_a_team_gets_nothing_of_it():
    assert not may_access(Principal("red", "user"), "alice", "red")


def test_containers_carry_their_owner_in_labels():
    labels = owner_labels("alice", "red")
    assert labels == {LABEL_OWNER: "alice", LABEL_TEAM: "red"}
    assert owner_labels("alice", None) == {LABEL_OWNER: "alice"} and owner_labels(None, None) == {}
    assert labels_owner(labels) == ("alice", "red") and labels_owner({}) == (None, None)
    assert labels_owner({LABEL_OWNER: "", LABEL_TEAM: ""}) == (None, None)
    assert may_access_labels(CAROL, labels) and not may_access_labels(BOB, labels)
    assert not may_access_labels(BOB, {}) and may_access_labels(ADMIN, {})


def test_visible_keeps_order_and_only_what_may_be_seen():
    apps = [("a", "alice", None), ("b", "bob", None), ("c", None, None), ("d", "carol", "red")]
    assert [a[0] for a in visible(ALICE, apps, lambda a: (a[1], a[2]))] == ["a", "d"]
    assert [a[0] for a in visible(ADMIN, apps, lambda a: (a[1], a[2]))] == ["a", "b", "c", "d"]


@pytest.mark.parametrize("who, app, user, allowed", [
    (ALICE, "web", "bob", True),      # an event of her app, whoever caused it
    (ALICE, "db", "alice", False),    # an event of an app she may not see, even one she caused
    (ALICE, None, "alice", True),     # her own login, token, password change
    (ALICE, None, "bob", False),      # another account's doings
    (ALICE, None, None, False),       # host events: the admins'
    (ADMIN, "db", None, True),
    (ADMIN, None, None, True),
])
def test_events(who, app, user, allowed):
    assert event_visible(who, app, user, {"web"}) is allowed


def test_not_seen_is_not_found_and_a_taken_name_is_forbidden():
    with pytest.raises(NotFoundError) as caught:
        check_app(ALICE, "db", "bob", None)
    assert "no app 'db'" in str(caught.value)
    check_app(ALICE, "web", "alice", None)
    assert isinstance(taken("db"), ForbiddenError) and "belongs to another account" in str(taken("db"))
