"""Deploy's clean-up of a failed create: only what this attempt made goes (fakes, no engine)."""

from __future__ import annotations

from types import SimpleNamespace

from paasops.service.deploy import Deployer


class FakeApi:
    """An engine holding an unrelated container named `web-1` and one half-made replica of attempt `a1`."""

    def __init__(self, fail_listing: bool = False):
        self.fail_listing = fail_listing
        self.held = {"squatter": {}, "made": {"paasops.attempt": "a1"}}
        self.removed: list[str] = []

    def containers(self, all: bool, filters: dict):
        if self.fail_listing:
            raise OSError("engine unreachable")
        key, _, value = filters["label"].partition("=")
        return [{"Id": cid} for cid, labels in self.held.items() if labels.get(key) == value]

    def remove_container(self, cid: str, force: bool):
        self.removed.append(cid)


def handle(api: FakeApi):
    return SimpleNamespace(client=SimpleNamespace(api=api))


def test_cleanup_removes_only_the_attempts_container():
    api = FakeApi()
    Deployer._cleanup(handle(api), "a1")
    assert api.removed == ["made"]


def test_cleanup_of_an_attempt_that_made_nothing_removes_nothing():
    api = FakeApi()
    Deployer._cleanup(handle(api), "a2")  # e.g. the create was refused: the name `web-1` is taken
    assert api.removed == []


def test_cleanup_guesses_nothing_when_the_engine_cannot_be_listed():
    api = FakeApi(fail_listing=True)
    Deployer._cleanup(handle(api), "a1")
    assert api.removed == []
