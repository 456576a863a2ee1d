"""Values as the CLI shows them (times, ages, sizes, ports): plain strings, shared by the tables and the HTML page."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..results import Port


def fmt_time(ts: float | None) -> str:
    """Epoch seconds as local 'YYYY-MM-DD HH:MM:SS' ('' when unknown)."""
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def fmt_age(ts: float | None, now: float) -> str:
    """'3 minutes ago', as `docker ps` says it (computed here: the engine's status text goes stale)."""
    if not ts:
        return ""
    seconds = max(0, int(now - ts))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return f"{seconds} seconds ago"


def fmt_mb(mb: float | None) -> str:
    """Mebibytes as 'N MiB', or 'N.N GiB' from 1024 up."""
    mb = mb or 0
    return f"{mb / 1024:.1f} GiB" if mb >= 1024 else f"{mb:g} MiB"


def fmt_num(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def fmt_ports(ports: list[Port] | None) -> str:
    """Docker's notation: 0.0.0.0:32768->8080/tcp, or 8080/tcp when not published."""
    shown = []
    for p in ports or []:
        inner = f"{p.container}/{p.protocol or 'tcp'}"
        if p.host_port:
            ip = p.host_ip or "0.0.0.0"
            shown.append(f"{f'[{ip}]' if ':' in ip else ip}:{p.host_port}->{inner}")
        else:
            shown.append(inner)
    return ", ".join(shown)
