"""The CLI's own flag grammars parsed: --since, --weights, --label, a listen address."""

from __future__ import annotations

from datetime import datetime

import pytest

from paasops.cli import flags
from paasops.errors import UserInputError

NOW = 1_700_000_000.0


# -- flags ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("given, expected", [
    ("90s", NOW - 90), ("10m", NOW - 600), ("2h", NOW - 7200), ("1d", NOW - 86400), ("1.5h", NOW - 5400),
    ("1690000000", 1_690_000_000.0), ("1690000000.5", 1_690_000_000.5),
    ("2023-11-14T22:13:20", datetime(2023, 11, 14, 22, 13, 20).timestamp()),
    (None, None),
])
def test_parse_since(given, expected):
    assert flags.parse_since(given, NOW) == expected


@pytest.mark.parametrize("bad", ["yesterday", "10 minutes", "-", "5w"])
def test_parse_since_refuses_and_names_the_flag(bad):
    with pytest.raises(UserInputError, match=r"^--since: expected a duration"):
        flags.parse_since(bad, NOW)


def test_parse_weights():
    assert flags.parse_weights("65,35") == (65.0, 35.0)
    assert flags.parse_weights("1,0") == (1.0, 0.0)
    for bad in ("65", "65,35,1", "a,b", "-1,5", "0,0"):
        with pytest.raises(UserInputError, match="^--weights: "):
            flags.parse_weights(bad)


def test_parse_labels():
    assert flags.parse_labels(["zone=a", " disk = ssd ", "empty="]) == {"zone": "a", "disk": "ssd", "empty": ""}
    assert flags.parse_labels(None) == {}
    with pytest.raises(UserInputError, match="--label: expected KEY=VALUE, got 'zone'"):
        flags.parse_labels(["zone"])
    with pytest.raises(UserInputError):
        flags.parse_labels(["=a"])


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("example.com", False),
])
def test_is_loopback(host, loopback):
    assert flags.is_loopback(host) is loopback
