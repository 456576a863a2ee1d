"""Suite-wide: the `rethinkdb` marker, one throwaway RethinkDB server per run, and the rule that
CI never skips RethinkDB tests."""

from __future__ import annotations

import os

import pytest
import rethinkdb_support

from paasops.store import open_store

SKIPPED: list[str] = []  # the reasons RethinkDB tests were skipped in this run


def pytest_configure(config):
    config.addinivalue_line("markers", "rethinkdb: needs a RethinkDB server (the run starts one throwaway server)")


def pytest_runtest_logreport(report):
    if report.skipped and "rethinkdb" in report.keywords:
        SKIPPED.append(report.longrepr[-1] if isinstance(report.longrepr, tuple) else "")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = SKIPPED
    if skipped:
        reason = skipped[0].removeprefix("Skipped: ")
        terminalreporter.write_line(f"rethinkdb: {len(skipped)} test(s) skipped: {reason}", yellow=True)
        failure = rethinkdb_support.ci_failure(os.environ, rethinkdb_support.find_binary(rethinkdb_support.REPO)
                                               is not None, len(skipped))
        if failure:
            terminalreporter.write_line(f"rethinkdb: FAILED: {failure}", red=True, bold=True)


def pytest_sessionfinish(session, exitstatus):
    binary_found = rethinkdb_support.find_binary(rethinkdb_support.REPO) is not None
    if rethinkdb_support.ci_failure(os.environ, binary_found, len(SKIPPED)) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def rethinkdb_server():
    """The run's throwaway server (started on first use, stopped at the end); None when
    PAASOPS_RETHINKDB_URL names a server of your own."""
    reason = rethinkdb_support.unavailable()
    if reason:
        pytest.skip(reason)
    if os.environ.get(rethinkdb_support.URL_ENV):
        yield None
        return
    server = rethinkdb_support.start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def rethinkdb_state(rethinkdb_server) -> str:
    """`rethinkdb://127.0.0.1:PORT/DB` of a database with the store's schema, for this run."""
    url = rethinkdb_support.new_database_url(rethinkdb_server.url if rethinkdb_server
                                              else os.environ[rethinkdb_support.URL_ENV])
    open_store(url).close()  # creates the schema once: tables cost ~0.3 s each to create
    yield url
    rethinkdb_support.drop_database(url)


@pytest.fixture
def empty_rethinkdb_state(rethinkdb_state) -> str:
    """The run's RethinkDB database, emptied for this test."""
    rethinkdb_support.empty_tables(rethinkdb_state)
    return rethinkdb_state
