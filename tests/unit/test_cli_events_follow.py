"""`events --follow` on the service's event stream: each event once, reconnecting after a break, a
look-back on reconnecting, polling an older service, and Ctrl-C ending it quietly (a fake API)."""

from __future__ import annotations

import json

import pytest

from paasops.cli.commands import events as events_command
from paasops.cli.common import Output
from paasops.errors import ConnectionFailed, NotFoundError, RateLimited
from paasops.results import EventView


def event(n: int, t: float) -> EventView:
    return EventView(type="start", tag="docker", time=t, id=f"{int(t * 1e9):019d}-{n:08x}")


class FakeApi:
    """Streams the scripted rounds: each a list of events, then an exception (or the stream's end)."""

    def __init__(self, rounds):
        self.rounds = list(rounds)
        self.stream_since: list[float | None] = []
        self.polled = 0

    def event_stream(self, *, since=None, **filters):
        self.stream_since.append(since)
        found, end = self.rounds.pop(0)
        yield from found
        if end is not None:
            raise end

    def events(self, **kwargs):
        self.polled += 1
        raise KeyboardInterrupt


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(events_command.time, "sleep", lambda s: None)


def printed(capsys) -> list[str]:
    return [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()]


def test_each_event_once_across_reconnections_and_ctrl_c_ends_quietly(capsys):
    a, b, c = event(1, 1000.0), event(2, 1001.0), event(3, 1002.0)
    api = FakeApi([([b], ConnectionFailed("the service restarts")),
                   ([b, c], None),  # the look-back brings b again: not printed twice
                   ([], KeyboardInterrupt())])
    events_command._follow(api, {}, [a], 990.0, Output.json)  # type: ignore[arg-type]
    assert printed(capsys) == [a.id, b.id, c.id]
    assert api.stream_since[0] == 1000.0 - events_command.FOLLOW_LOOKBACK
    assert api.stream_since[2] == 1002.0 - events_command.FOLLOW_LOOKBACK


def test_an_older_service_without_the_stream_is_polled(capsys):
    api = FakeApi([([], NotFoundError("no route"))])
    events_command._follow(api, {}, [], 990.0, Output.json)  # type: ignore[arg-type]
    assert api.polled == 1


def test_too_many_follows_ends_the_command_with_the_services_reason(capsys):
    refused = RateLimited("events: account dave already has 8 streams open (at most 8 per account): end one "
                          "first (try again in 5 s)", retry_after=5)
    api = FakeApi([([event(1, 1000.0)], ConnectionFailed("the service restarts")), ([], refused)])
    with pytest.raises(RateLimited, match="at most 8 per account"):  # cli/errors.py: exit 4, the message
        events_command._follow(api, {}, [], 990.0, Output.json)  # type: ignore[arg-type]
    assert len(api.stream_since) == 2  # no retrying against the cap
