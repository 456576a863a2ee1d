"""The report as one self-contained HTML page: inline CSS and inline SVG bar charts, every value escaped."""

from __future__ import annotations

import html
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..results import AppSync, Headroom, HostRow, Report

from .formats import fmt_mb, fmt_time

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;
color:#1f2328;padding:0 1rem}
h1{font-size:1.6rem;margin:0 0 .2rem}h2{font-size:1.15rem;margin:2rem 0 .6rem;border-bottom:1px solid #d0d7de}
.meta{color:#57606a;margin:0 0 1rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{text-align:left;padding:.25rem .6rem;border-bottom:1px solid #eaeef2;vertical-align:top}
th{background:#f6f8fa;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.up,.ok{color:#1a7f37}.down,.bad{color:#cf222e}.degraded,.unknown,.warn{color:#9a6700}
.badge{display:inline-block;padding:0 .5rem;border-radius:1rem;background:#f6f8fa;border:1px solid #d0d7de}
svg{display:block;margin:.5rem 0}svg text{font:12px system-ui,sans-serif;fill:#1f2328}
svg .cpu{fill:#0969da}svg .mem{fill:#8250df}svg .run{fill:#1a7f37}svg .short{fill:#cf222e}
svg .over{fill:#bc4c00}svg .track{fill:#eaeef2}svg .want{stroke:#1f2328;stroke-width:2}
.legend span{margin-right:1rem}.sw{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-1px}
"""

LABEL_W, BAR_W, TEXT_W, BAR_H, GAP = 170, 420, 110, 14, 10


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def clip(text: str, size: int = 24) -> str:
    """A chart label short enough for its column (the tables show it in full)."""
    return text if len(text) <= size else text[:size - 1] + "…"


def _svg(title: str, rows: list[str], height: int) -> str:
    width = LABEL_W + BAR_W + TEXT_W
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{esc(title)}"><title>{esc(title)}</title>{"".join(rows)}</svg>')


def _bar(y: float, fraction: float, css: str, text: str) -> str:
    length = max(0.0, min(fraction, 1.0)) * BAR_W
    return (f'<rect class="track" x="{LABEL_W}" y="{y:.1f}" width="{BAR_W}" height="{BAR_H}"/>'
            f'<rect class="{css}" x="{LABEL_W}" y="{y:.1f}" width="{length:.1f}" height="{BAR_H}"/>'
            f'<text x="{LABEL_W + BAR_W + 6}" y="{y + BAR_H - 3:.1f}">{esc(text)}</text>')


def hosts_chart(hosts: list[HostRow]) -> str:
    """Two bars per host: CPU and memory reserved, as a share of its capacity (orange past 100%)."""
    rows, y = [], 4.0
    for h in hosts:
        rows.append(f'<text x="0" y="{y + BAR_H + 2:.1f}">{esc(clip(h.id, 16))} ({esc(h.status)})</text>')
        for word, pct, css in (("cpu", h.cpu_percent, "cpu"), ("mem", h.memory_percent, "mem")):
            rows.append(_bar(y, pct / 100, "over" if pct > 100 else css, f"{word} {pct:g}%"))
            y += BAR_H + 2
        y += GAP
    return _svg("CPU and memory reserved per host", rows, int(y) + 2)


def apps_chart(apps: list[AppSync]) -> str:
    """One bar per app: replicas running, against a mark at the desired count."""
    scale = max([max(a.desired, a.running) for a in apps] + [1])
    rows, y = [], 4.0
    for a in apps:
        css = "run" if a.running >= a.desired else "short"
        rows.append(f'<text x="0" y="{y + BAR_H - 3:.1f}">{esc(clip(a.name))}</text>')
        rows.append(_bar(y, a.running / scale, css, f'{a.running} of {a.desired}'))
        x = LABEL_W + a.desired / scale * BAR_W
        rows.append(f'<line class="want" x1="{x:.1f}" y1="{y - 2:.1f}" x2="{x:.1f}" y2="{y + BAR_H + 2:.1f}"/>')
        y += BAR_H + GAP
    return _svg("Replicas running per app versus desired", rows, int(y) + 2)


def _table(headers: list[str], rows: list[list[Any]], numeric: Collection[int] = frozenset()) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{cell}</td>' for i, cell in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _status(value: Any, good: bool | None = None) -> str:
    css = value if good is None else ("ok" if good else "bad")
    return f'<span class="{esc(css)}">{esc(value)}</span>'


def _legend(items: list[tuple[str, str]]) -> str:
    return '<p class="legend">' + "".join(
        f'<span><svg class="sw" width="12" height="12" style="display:inline"><rect class="{css}" width="12" '
        f'height="12"/></svg>{esc(text)}</span>' for css, text in items) + "</p>"


def losses_chart(room: Headroom) -> str:
    """One bar per host holding replicas: those its loss would move, the stranded part in red."""
    scale = max([x.replicas for x in room.losses] + [1])
    rows, y = [], 4.0
    for x in room.losses:
        stranded = sum(x.stranded.values())
        rows.append(f'<text x="0" y="{y + BAR_H - 3:.1f}">{esc(clip(x.host))}</text>')
        rows.append(_bar(y, x.replicas / scale, "run", f"{x.replicas - stranded} placed, {stranded} stranded"
                         if stranded else f"{x.replicas} placed"))
        if stranded:
            start = LABEL_W + (x.replicas - stranded) / scale * BAR_W
            rows.append(f'<rect class="short" x="{start:.1f}" y="{y:.1f}" width="{stranded / scale * BAR_W:.1f}" '
                        f'height="{BAR_H}"/>')
        y += BAR_H + GAP
    return _svg("Replicas each host's loss would move, and those stranded", rows, int(y) + 2)


def headroom_html(room: Headroom | None) -> list[str]:
    """Headroom: more replicas per app, N-1 per host (a chart), CPU and memory after the worst loss."""
    if room is None:
        return []
    verdict = ("the loss of any one host strands no replica" if room.survives else
               "not survivable: " + "; ".join(f"losing {x.host} strands " + ", ".join(
                   f"{n} of {app}" for app, n in x.stranded.items()) for x in room.losses if not x.survives))
    spare = [f"{r.resource}: {r.free:g} {unit} free of {r.total:g}" + (
        f"; losing {r.worst_host} leaves {r.spare_after_worst:g} {unit} " + ("spare" if r.survives else "(short)")
        if r.worst_host else "") for r, unit in ((room.cpu, "CPUs"), (room.memory, "MB"))]
    return [
        "<h2>Headroom: N-1 and room left</h2>",
        f'<p><span class="badge {"ok" if room.survives else "bad"}">N-1</span> {esc(verdict)}</p>',
        _legend([("run", "placed on the other hosts"), ("short", "stranded")]),
        losses_chart(room) if room.losses else "<p>No host holds replicas.</p>",
        _table(["app", "more replicas fit now", "on hosts", "limit"],
               [[esc(a.app), esc("no limit" if a.more is None else a.more), esc(a.hosts), esc(a.limit)]
                for a in room.apps], {1, 2}),
        f'<p class="meta">{esc(spare[0])} · {esc(spare[1])}</p>',
    ]


def render(report: Report) -> str:
    """The whole page; nothing in it is loaded from elsewhere."""
    t, hosts, apps, rec = report.totals, report.hosts, report.apps, report.reconcile
    when = fmt_time(report.generated_at)
    sync = "in sync" if rec.in_sync else f"{rec.pending} reconcile action(s) pending"
    totals = (f"{t.reserved_cpus:g} of {t.cpus:g} CPUs ({t.cpu_percent}%), "
              f"{fmt_mb(t.reserved_memory_mb)} of {fmt_mb(t.memory_mb)} memory "
              f"({t.memory_percent}%)")
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>paasops report {esc(when)}</title><style>{CSS}</style></head><body>",
        "<h1>paasops report</h1>",
        (f'<p class="meta">generated {esc(when)} · {esc(t.engines_up)} of {esc(t.engines)} '
         f'hosts up · {esc(t.running)} of {esc(t.containers)} containers running · '
         f'<span class="badge {"ok" if rec.in_sync else "warn"}">{esc(sync)}</span></p>'),
        "<h2>Hosts: capacity and reservations</h2>",
        _legend([("cpu", "CPU reserved"), ("mem", "memory reserved"), ("over", "overcommitted")]),
        hosts_chart(hosts) if hosts else "<p>No engines.</p>",
        _table(["host", "address", "status", "CPUs reserved", "CPU %", "memory reserved", "memory %",
                "running / all", "error"],
               [[esc(h.id), esc(h.address), _status(h.status),
                 esc(f'{h.reserved_cpus:g} of {h.cpus:g}'), esc(h.cpu_percent),
                 esc(f'{fmt_mb(h.reserved_memory_mb)} of {fmt_mb(h.memory_mb)}'), esc(h.memory_percent),
                 esc(f'{h.running} / {h.containers}'), esc(h.error)] for h in hosts], {3, 4, 5, 6, 7}),
        f'<p class="meta">total reserved: {esc(totals)}</p>',
        "<h2>Hosts down or degraded</h2>",
        _table(["host", "address", "status", "error"],
               [[esc(h.id), esc(h.address), _status(h.status), esc(h.error)]
                for h in report.hosts_down]) if report.hosts_down else "<p>None.</p>",
        "<h2>Apps: replicas running versus desired</h2>",
        _legend([("run", "running as desired"), ("short", "fewer than desired")]),
        apps_chart(apps) if apps else "<p>No apps deployed.</p>",
        _table(["app", "desired", "running", "missing", "extra", "old spec", "on hosts down", "hosts", "state"],
               [[esc(a.name), esc(a.desired), esc(a.running), esc(a.missing), esc(a.extra),
                 esc(a.stale), esc(a.unreachable),
                 esc(", ".join(f"{k} ({v})" for k, v in a.hosts.items())),
                 _status("in sync" if a.in_sync else "out of sync", a.in_sync)] for a in apps],
               {1, 2, 3, 4, 5, 6}),
        "<h2>Routes (app.yml expose)</h2>",
        _table(["app", "route", "urls", "backends", "edges"],
               [[esc(r.app), esc(f"tcp :{r.tcp_port}" if r.mode == "tcp" else ",".join(r.hostnames) + (r.path or "/")),
                 esc(" ".join(r.urls)),
                 esc(", ".join(f"{b.name} {b.address}:{b.port} ({b.state})" for b in r.backends) or "none"),
                 esc(", ".join(f"{e.engine} r{e.revision}" + (f" {e.lag} behind" if e.lag else "")
                               + (f" error: {e.error}" if e.error else "") for e in r.edges) or "none")]
                for r in report.routes]) if report.routes else "<p>No app is exposed.</p>",
        *headroom_html(report.headroom),
        "<h2>Events of the last 24 hours (newest first)</h2>",
        _table(["time", "type", "tag", "app", "host", "user", "message"],
               [[esc(fmt_time(e.time)), esc(e.type), esc(e.tag), esc(e.app),
                 esc(e.host), esc(e.user), esc(e.message)]
                for e in report.events]) if report.events else "<p>No events.</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
