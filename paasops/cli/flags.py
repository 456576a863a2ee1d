"""Parsing the CLI's own flag grammars (--weights, --label, --since, a listen address): pure helpers."""

from __future__ import annotations

import re
from datetime import datetime

from ..errors import UserInputError
from ..service.registration import is_loopback as is_loopback  # one rule: the API's listen address, a plain etcd

SINCE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}



def parse_weights(text: str) -> tuple[float, float]:
    """'65,35' -> (65.0, 35.0): the CPU and memory weights of the score."""
    try:
        cpu, mem = (float(part) for part in text.split(","))
    except ValueError:
        raise UserInputError(f"expected CPU,MEMORY weights such as 65,35, got {text!r}", where="--weights") from None
    if cpu < 0 or mem < 0 or cpu + mem == 0:
        raise UserInputError(f"weights must be >= 0 and not both 0, got {text!r}", where="--weights")
    return cpu, mem


def parse_labels(items: list[str] | None) -> dict[str, str]:
    """['zone=a', 'disk = ssd'] -> {'zone': 'a', 'disk': 'ssd'} (repeated --label KEY=VALUE)."""
    labels = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserInputError(f"expected KEY=VALUE, got {item!r}", where="--label")
        labels[key.strip()] = value.strip()
    return labels


def parse_since(text: str | None, now: float) -> float | None:
    """'90s', '10m', '2h', '1d' ago, an epoch number, or an ISO date/time -> epoch seconds."""
    if text is None:
        return None
    text = text.strip()
    if m := SINCE_RE.match(text):
        return now - float(m.group(1)) * SECONDS[m.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise UserInputError(f"expected a duration (10m, 2h, 1d), an epoch time or an ISO date, got {text!r}",
                             where="--since") from None
