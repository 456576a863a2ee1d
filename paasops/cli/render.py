"""Rendering the API's JSON for people: rich tables, views and a deploy progress bar (pure helpers)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..errors import PaasopsError
from .formats import fmt_age, fmt_mb, fmt_num, fmt_ports, fmt_time

STATE_STYLE = {"running": "green", "up": "green", "fits": "green", "exited": "yellow", "created": "yellow",
               "degraded": "yellow", "down": "red", "dead": "red", "failed": "red", "rejected": "red"}


def styled(value: Any, style: str | None = None) -> Text:
    """A cell's text in `style`, else in the colour of its state (running green, down red …: STATE_STYLE)."""
    text = "" if value is None else str(value)
    return Text(text, style=style or STATE_STYLE.get(text, ""))


def _cell(value: Any) -> Text:
    return value if isinstance(value, Text) else Text("" if value is None else str(value))


def table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> Table:
    """The CLI's table: bold headers, no borders, ids and times never wrapped; cells are text or `styled`."""
    grid = Table(title=title, title_justify="left", box=None, header_style="bold", pad_edge=False)
    for col in columns:
        grid.add_column(col, overflow="fold", no_wrap=col in ("ID", "CONTAINER ID", "CONTAINER", "TIME"))
    for row in rows:
        grid.add_row(*(_cell(v) for v in row))
    return grid


def kv_table(pairs: list[tuple[str, Any]]) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, value in pairs:
        table.add_row(key, escape("" if value is None else str(value)))
    return table


def containers_table(rows: list[dict], now: float | None = None) -> Table:
    now = time.time() if now is None else now
    return table(["CONTAINER ID", "NAME", "APP", "HOST", "IMAGE", "STATE", "CREATED", "PORTS"],
                  [[c["id"][:12], c.get("name"), c.get("app") or "", c.get("engine"), c.get("image"),
                    styled(c.get("state", "")), fmt_age(c.get("created"), now), fmt_ports(c.get("ports"))]
                   for c in rows])


def replicas_table(replicas: list[dict], title: str | None = None) -> Table:
    return table(["INDEX", "HOST", "CONTAINER ID", "NAME", "PORTS", "STATUS"],
                  [[r.get("index"), r.get("host") or "", (r.get("id") or "")[:12], r.get("name") or "",
                    fmt_ports(r.get("ports")),
                    styled(r.get("status", "")) + (" " + r["error"] if r.get("error") else "")]
                   for r in replicas], title)


def plan_table(result: dict) -> Table:
    rows = [[a["replica"] + 1, a["host"], fmt_num(a.get("score")), fmt_num(a.get("cpu")), fmt_num(a.get("memory"))]
            for a in result.get("plan", [])]
    return table(["REPLICA", "HOST", "SCORE", "CPU TERM", "MEMORY TERM"], rows,
                  f"plan: {result.get('count')} replicas of {result.get('app')} ({result.get('strategy')})")


def explanation_table(rows: list[dict]) -> Table:
    """Each host's score split into its CPU and memory terms, or the filter that rejected it."""
    body = [[e["host"], styled(e["status"]), fmt_num(e.get("score")), fmt_num(e.get("cpu")),
             fmt_num(e.get("memory")), e.get("replicas", 0), e.get("placed", 0),
             f"{e['filter']}: {e.get('reason') or ''}" if e.get("filter") else ""] for e in rows]
    return table(["HOST", "STATUS", "SCORE", "CPU TERM", "MEMORY TERM", "REPLICAS", "PLACED", "REJECTED BY"],
                  body, "why: each host's score before the plan (higher wins)")


def engines_table(rows: list[dict]) -> Table:
    return table(["ID", "ADDRESS", "STATUS", "SOURCE", "CPUS", "MEMORY", "RUNNING/ALL", "LABELS", "ERROR"],
                  [[h["id"], h.get("address"), styled(h.get("status", "")), h.get("source"),
                    f"{h.get('reserved_cpus', 0):g}/{h.get('cpus', 0):g}",
                    f"{fmt_mb(h.get('reserved_memory_mb'))}/{fmt_mb(h.get('memory_mb'))}",
                    f"{h.get('running', 0)}/{h.get('containers', 0)}",
                    ",".join(f"{k}={v}" for k, v in (h.get("labels") or {}).items()), h.get("error") or ""]
                   for h in rows])


def cluster_summary(info: dict) -> Table:
    return kv_table([
        ("engines", f"{info.get('engines_up', 0)} up of {info.get('engines', 0)}"),
        ("cpus", f"{info.get('reserved_cpus', 0):g} reserved of {info.get('cpus', 0):g}"),
        ("memory", f"{fmt_mb(info.get('reserved_memory_mb'))} reserved of {fmt_mb(info.get('memory_mb'))}"),
        ("containers", f"{info.get('running', 0)} running of {info.get('containers', 0)}"),
        ("images", info.get("images", 0)),
    ])


def events_table(events: list[dict]) -> Table:
    return table(["TIME", "TYPE", "TAG", "APP", "HOST", "CONTAINER", "USER", "MESSAGE"],
                  [[fmt_time(e.get("time")), e.get("type"), e.get("tag"), e.get("app") or "", e.get("host") or "",
                    (e.get("container") or "")[:12], e.get("user") or "", e.get("message") or ""] for e in events])


def event_line(e: dict) -> str:
    """One event as a line, for `events --follow`."""
    parts = [fmt_time(e.get("time")), e.get("tag") or "", e.get("type") or ""]
    for key in ("app", "host"):
        if e.get(key):
            parts.append(f"{key}={e[key]}")
    if e.get("container"):
        parts.append(f"container={e['container'][:12]}")
    return " ".join(parts) + (f"  {e['message']}" if e.get("message") else "")


def apps_table(rows: list[dict]) -> Table:
    return table(["APP", "IMAGE", "DESIRED", "RUNNING", "HOSTS", "DEPLOYMENT", "UPDATED"],
                  [[a["name"], (a.get("spec") or {}).get("image", ""), a.get("count"),
                    styled(a.get("replicas"), "green" if a.get("replicas") == a.get("count") else "yellow"),
                    ",".join(a.get("hosts") or []),
                    (a.get("deployment_id") or "")[:12], fmt_time(a.get("updated_at"))] for a in rows])


def container_pairs(c: dict) -> list[tuple[str, Any]]:
    details = c.get("inspect") or {}
    config, net = details.get("Config") or {}, details.get("NetworkSettings") or {}
    return [("id", c.get("id")), ("name", c.get("name")), ("app", c.get("app")), ("host", c.get("engine")),
            ("image", c.get("image")), ("state", c.get("state")),
            ("started", (details.get("State") or {}).get("StartedAt", "")), ("created", fmt_time(c.get("created"))), ("deployment", c.get("deployment")),
            ("spec hash", c.get("spec_hash")), ("cpus", c.get("cpus")), ("memory", fmt_mb(c.get("memory_mb"))),
            ("ports", fmt_ports(c.get("ports"))), ("command", " ".join(config.get("Cmd") or [])),
            ("ip address", net.get("IPAddress") or ""), ("restarts", details.get("RestartCount", "")),
            ("labels", ", ".join(f"{k}={v}" for k, v in sorted((c.get("labels") or {}).items())))]


def result_view(result: dict) -> Group:
    """A deploy or scale result: a headline, the replicas started and the ones removed."""
    replicas = result.get("replicas") or []
    running = result.get("running", sum(r.get("status") == "running" for r in replicas))
    before = f"{result['before']} -> " if "before" in result else ""
    parts: list[Any] = [f"[bold]{escape(result.get('app', ''))}[/]: {before}{result.get('count')} replicas, "
                        f"{running} running (deployment {escape((result.get('deployment') or '')[:12])})"]
    if replicas:
        parts.append(replicas_table(replicas))
    for gone in result.get("removed") or []:
        gone = gone if isinstance(gone, dict) else {"id": gone}
        where = f" ({gone.get('name')} on {gone.get('host')})" if gone.get("host") else ""
        parts.append(escape(f"removed {gone['id'][:12]}{where}"))
    return Group(*parts)


def plan_view(result: dict) -> Group:
    """A dry run: the plan, then why (each host's score terms, or the filter that rejected it)."""
    return Group(plan_table(result), "", explanation_table(result.get("explanation") or []))


def cluster_view(info: dict) -> Group:
    return Group(cluster_summary(info), "", engines_table(info.get("hosts") or []))


def check_result(result: dict) -> None:
    failed = [r for r in result.get("replicas") or [] if r.get("status") != "running"]
    if failed:
        raise PaasopsError(f"{len(failed)} of {len(result['replicas'])} replicas did not start: "
                           + "; ".join(f"replica {r.get('index')}: {r.get('error')}" for r in failed[:5]),
                           where=result.get("app"))


class DeployProgress:
    """A rich progress bar fed by the deploy's NDJSON progress events (on stderr: stdout keeps the table)."""

    def __init__(self, console: Console):
        self.console = console
        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True)
        self.task = self.bar.add_task("placing", total=None)

    def __enter__(self) -> "DeployProgress":
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def __call__(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "planned":
            hosts = ", ".join(f"{h} ({n})" for h, n in (event.get("hosts") or {}).items())
            self.bar.update(self.task, total=event.get("total"), description=f"starting on {hosts}")
        elif kind == "running":
            self.bar.update(self.task, advance=1, description=f"{event.get('name')} running on {event.get('host')}")
        elif kind in ("retry", "failed"):
            style = "yellow" if kind == "retry" else "red"
            self.console.print(f"[{style}]{kind}[/]: replica {event.get('index')} on {escape(str(event.get('host')))}:"
                               f" {escape(str(event.get('error')))}")
            if kind == "failed":
                self.bar.update(self.task, advance=1)
        elif kind == "image":
            self.bar.update(self.task, description=escape(str(event.get("message"))))
        elif kind == "removed":
            self.console.print(f"removed {str(event.get('id'))[:12]} on {escape(str(event.get('host')))}")
