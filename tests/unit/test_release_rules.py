"""The pure release-history rules: what an active release supersedes, which release a rollback deploys."""

from __future__ import annotations

import pytest

from paasops.errors import ConflictError, NotFoundError, UserInputError
from paasops.service.releases import find_release, rollback_target, superseded
from paasops.store.records import Release


def rel(deployment: str, spec_hash: str, outcome: str) -> Release:
    return Release(app="web", deployment_id=deployment, spec_hash=spec_hash, spec={"image": "x"}, count=2,
                   outcome=outcome)


# newest first, as the store lists them: v1 ran, v2 ran, v3 was rolled back before it ran, v4 runs now
HISTORY = [rel("dddd00000004", "h4", "active"), rel("cccc00000003", "h3", "rolled-back"),
           rel("bbbb00000002", "h2", "superseded"), rel("aaaa00000001", "h1", "superseded")]


def test_an_active_release_supersedes_every_other_active_one():
    rows = [rel("n", "h2", "active"), rel("o", "h1", "active"), rel("p", "h0", "failed")]
    assert [r.deployment_id for r in superseded(rows, "n")] == ["o"]
    assert superseded(rows[2:], "n") == []


def test_the_default_target_is_the_newest_earlier_release_that_ran():
    # v3 never ran (rolled back): the one before the current that ran is v2
    assert rollback_target(HISTORY, "web", "dddd00000004", "h4").deployment_id == "bbbb00000002"


def test_the_default_target_skips_the_current_spec_run_again():
    # v5 rolled back to v2 (same spec hash h2): rolling back again goes to v4, not to v2's twin
    rows = [rel("eeee00000005", "h2", "active"), *HISTORY[:1], *HISTORY[1:]]
    rows[1] = rel("dddd00000004", "h4", "superseded")
    assert rollback_target(rows, "web", "eeee00000005", "h2").deployment_id == "dddd00000004"


def test_no_earlier_release_is_not_found():
    with pytest.raises(NotFoundError, match="no earlier release to roll back to"):
        rollback_target(HISTORY[:1], "web", "dddd00000004", "h4")


def test_to_takes_an_id_or_a_unique_prefix():
    assert rollback_target(HISTORY, "web", "dddd00000004", "h4", "aaaa").deployment_id == "aaaa00000001"
    assert find_release(HISTORY, "web", "bbbb00000002").spec_hash == "h2"


@pytest.mark.parametrize(("to", "error", "words"), [
    ("ffff", NotFoundError, "app 'web' has no release 'ffff'"),
    ("ab", UserInputError, "at least 4 characters"),
    ("dddd", ConflictError, "already running release dddd00000004"),
])
def test_to_refusals_name_the_release(to, error, words):
    with pytest.raises(error, match=words):
        rollback_target(HISTORY, "web", "dddd00000004", "h4", to)


def test_an_ambiguous_prefix_lists_the_candidates():
    rows = [rel("abcd00000001", "h1", "superseded"), rel("abcd00000002", "h2", "superseded")]
    with pytest.raises(ConflictError, match="ambiguous: abcd00000001, abcd00000002"):
        find_release(rows, "web", "abcd")


def test_a_release_with_the_current_spec_is_already_running():
    rows = [rel("dddd00000004", "h1", "active"), rel("aaaa00000001", "h1", "superseded")]
    with pytest.raises(ConflictError, match="already running"):
        rollback_target(rows, "web", "dddd00000004", "h1", "aaaa")
