"""Finding a RethinkDB server binary, and the rule that CI never skips RethinkDB tests (pure parts)."""

from __future__ import annotations

from pathlib import Path

import rethinkdb_support

from paasops.store.rethinkdb_server import BINARY_ENV, binary_candidates


def test_binary_candidates_in_order():
    root = Path("/src/paasops")
    found = binary_candidates({BINARY_ENV: "/opt/rdb"}, lambda name: f"/usr/bin/{name}", root)
    assert found == [Path("/opt/rdb"), Path("/usr/bin/rethinkdb"), root / "../shared/rethinkdb/rethinkdb"]
    assert binary_candidates({BINARY_ENV: ""}, lambda name: None, root) == [root / "../shared/rethinkdb/rethinkdb"]


def test_ci_fails_a_run_that_skipped_rethinkdb_tests_only_with_a_binary_at_hand():
    assert rethinkdb_support.ci_failure({"CI": "true"}, True, 17).startswith("CI=true and a RethinkDB binary")
    assert rethinkdb_support.ci_failure({"CI": "true"}, True, 0) is None
    assert rethinkdb_support.ci_failure({"CI": "true"}, False, 17) is None  # a user's machine without a server
    assert rethinkdb_support.ci_failure({}, True, 17) is None


def test_new_database_url_keeps_the_server():
    url = rethinkdb_support.new_database_url("rethinkdb://127.0.0.1:41757/whatever")
    assert url.startswith("rethinkdb://127.0.0.1:41757/paasops_test_") and len(url.rsplit("_", 1)[1]) == 8
