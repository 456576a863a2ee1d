"""Rendering the API's JSON for people: rich tables, views and a deploy progress bar (pure helpers)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..errors import PaasopsError
from ..vocabulary import RELEASE_ACTIVE, RELEASE_FAILED, RELEASE_ROLLED_BACK
from .formats import fmt_age, fmt_mb, fmt_num, fmt_ports, fmt_time

if TYPE_CHECKING:  # the models are only annotations here: rendering imports no pydantic
    from ..results import (
        AppDeleted,
        AppView,
        ClusterInfo,
        ContainerDetail,
        ContainerGone,
        ContainerInfo,
        DeployResult,
        DrainResult,
        DryRunPlan,
        EngineView,
        EventView,
        HostExplanation,
        ReleaseView,
        RemovedReplica,
        ReplicaResult,
        RouteView,
    )

STATE_STYLE = {"running": "green", "up": "green", "fits": "green", "exited": "yellow", "created": "yellow",
               "degraded": "yellow", "suspect": "yellow", "down": "red", "dead": "red", "failed": "red",
               "rejected": "red", "healthy": "green", "starting": "yellow", "unhealthy": "red", "none": "dim"}


BACKEND_STYLE = {"ready": "green", "drain": "yellow"}


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


def containers_table(rows: list[ContainerInfo], now: float | None = None) -> Table:
    now = time.time() if now is None else now
    return table(["CONTAINER ID", "NAME", "APP", "HOST", "IMAGE", "STATE", "HEALTH", "CREATED", "PORTS"],
                  [[c.id[:12], c.name, c.app or "", c.engine, c.image,
                    styled(c.state), styled(c.health), fmt_age(c.created, now), fmt_ports(c.ports)]
                   for c in rows])


def replicas_table(replicas: list[ReplicaResult], title: str | None = None) -> Table:
    return table(["INDEX", "HOST", "CONTAINER ID", "NAME", "PORTS", "STATUS"],
                  [[r.index, r.host or "", (r.id or "")[:12], r.name or "",
                    fmt_ports(r.ports),
                    styled(r.status) + (" " + r.error if r.error else "")]
                   for r in replicas], title)


def plan_table(result: DryRunPlan) -> Table:
    rows = [[a.replica + 1, a.host, fmt_num(a.score), fmt_num(a.cpu), fmt_num(a.memory)]
            for a in result.plan]
    return table(["REPLICA", "HOST", "SCORE", "CPU TERM", "MEMORY TERM"], rows,
                  f"plan: {result.count} replicas of {result.app} ({result.strategy})")


def explanation_table(rows: list[HostExplanation]) -> Table:
    """Each host's score split into its CPU and memory terms, or the filter that rejected it."""
    body = [[e.host, styled(e.status), fmt_num(e.score), fmt_num(e.cpu),
             fmt_num(e.memory), e.replicas, e.placed,
             f"{e.filter}: {e.reason or ''}" if e.filter else ""] for e in rows]
    return table(["HOST", "STATUS", "SCORE", "CPU TERM", "MEMORY TERM", "REPLICAS", "PLACED", "REJECTED BY"],
                  body, "why: each host's score before the plan (higher wins)")


def engines_table(rows: list[EngineView]) -> Table:
    return table(["ID", "ADDRESS", "STATUS", "SOURCE", "CPUS", "MEMORY", "RUNNING/ALL", "LABELS", "ERROR"],
                  [[h.id, h.address, host_status(h), h.source,
                    f"{h.reserved_cpus:g}/{h.cpus:g}",
                    f"{fmt_mb(h.reserved_memory_mb)}/{fmt_mb(h.memory_mb)}",
                    f"{h.running}/{h.containers}",
                    ",".join(f"{k}={v}" for k, v in h.labels.items()), h.error or ""]
                   for h in rows])


def host_status(h: EngineView) -> Text:
    """Its health, and DRAINED when an admin drained it (nothing new is placed there)."""
    text = styled(h.status)
    if h.unschedulable:
        text.append(" DRAINED", style="yellow")
    return text


def drain_report(r: DrainResult) -> Table:
    """`hosts drain`: each replica moved, each copy removed, each container left alone, then the verdict."""
    rows: list[list[Any]] = [[m.app, m.name, f"{m.from_host} -> {m.to_host}", "moved", m.new_id[:12]] for m in r.moved]
    rows += [[x.name.rsplit("-", 1)[0], x.name, x.host, "removed", x.id[:12]] for x in r.removed]
    rows += [[x.app or "", x.name, r.host, styled(f"left: {x.why}", "yellow"), x.id[:12]] for x in r.left]
    return table(["APP", "REPLICA", "HOST", "ACTION", "CONTAINER"], rows, title=r.message)


def engine_pairs(h: EngineView) -> list[tuple[str, Any]]:
    """Every field of an engine, in the API's order, for `hosts inspect`."""
    return list(h.model_dump().items())


def cluster_summary(info: ClusterInfo) -> Table:
    return kv_table([
        ("engines", f"{info.engines_up} up of {info.engines}"),
        ("cpus", f"{info.reserved_cpus:g} reserved of {info.cpus:g}"),
        ("memory", f"{fmt_mb(info.reserved_memory_mb)} reserved of {fmt_mb(info.memory_mb)}"),
        ("containers", f"{info.running} running of {info.containers}"),
        ("images", info.images),
    ])


def events_table(events: list[EventView]) -> Table:
    return table(["TIME", "TYPE", "TAG", "APP", "HOST", "CONTAINER", "USER", "MESSAGE"],
                  [[fmt_time(e.time), e.type, e.tag, e.app or "", e.host or "",
                    (e.container or "")[:12], e.user or "", e.message or ""] for e in events])


def event_line(e: EventView) -> str:
    """One event as a line, for `events --follow`."""
    parts = [fmt_time(e.time), e.tag or "", e.type or ""]
    for key, value in (("app", e.app), ("host", e.host)):
        if value:
            parts.append(f"{key}={value}")
    if e.container:
        parts.append(f"container={e.container[:12]}")
    return " ".join(parts) + (f"  {e.message}" if e.message else "")


def apps_table(rows: list[AppView]) -> Table:
    return table(["APP", "IMAGE", "DESIRED", "RUNNING", "READY", "HEALTH CHECK", "HOSTS", "DEPLOYMENT", "UPDATED",
                  "URLS"],
                  [[a.name, a.spec.get("image", ""), a.count,
                    styled(a.replicas, "green" if a.replicas == a.count else "yellow"),
                    styled(a.ready, "green" if a.ready == a.count else "red" if a.unhealthy else "yellow"),
                    a.health or "-", ",".join(a.hosts),
                    (a.deployment_id or "")[:12], fmt_time(a.updated_at), " ".join(a.urls) or "-"] for a in rows])


def app_pairs(a: AppView) -> list[tuple[str, Any]]:
    """`apps inspect`: one app's record and replicas, and where it answers."""
    return [("name", a.name), ("image", a.spec.get("image", "")), ("state", a.state), ("deployment", a.deployment_id),
            ("spec hash", a.spec_hash), ("desired", a.count), ("running", a.replicas), ("ready", a.ready),
            ("unhealthy", a.unhealthy), ("health check", a.health or "-"), ("hosts", ",".join(a.hosts) or "-"),
            ("urls", " ".join(a.urls) or "- (not exposed)"), ("owner", a.owner or "-"), ("team", a.team or "-"),
            ("secrets", ",".join(a.secrets) or "-"), ("updated", fmt_time(a.updated_at))]


def route_where(r: RouteView) -> str:
    """Where a route listens: `host1,host2/path` (http, `→https` when it redirects) or `tcp :PORT`."""
    if r.mode == "tcp":
        return f"tcp :{r.tcp_port}"
    return ",".join(r.hostnames) + (r.path or "/") + (" →https" if r.https_redirect else "")


def routes_table(rows: list[RouteView]) -> Table:
    """One line per backend of each route, with what every edge serves of it (`-`: not served there)."""
    lines: list[list[Any]] = []
    for r in rows:
        first = [r.app, route_where(r)]
        if not r.backends:
            lines.append([*first, "-", "", styled("no backend", "red"), ""])
        for b in r.backends:
            edges = ", ".join(f"{e.engine}:{e.serving.get(b.id, '-')}" for e in r.edges)
            lines.append([*first, b.name, f"{b.address}:{b.port}", styled(b.state, BACKEND_STYLE.get(b.state)),
                          edges or "-"])
            first = ["", ""]
    return table(["APP", "ROUTE", "BACKEND", "ADDRESS", "STATE", "EDGES"], lines)


def edges_table(rows: list[RouteView]) -> Table:
    """Each edge once: the routes revision it applied, how far behind the routes it is, its last error."""
    edges: dict[str, list[Any]] = {}
    for r in rows:
        for e in r.edges:
            row = edges.setdefault(e.engine, [e.engine, styled(e.status), e.revision, 0, e.error or ""])
            row[3] = max(row[3], e.lag)
    return table(["EDGE", "HOST", "REVISION", "BEHIND", "ERROR"],
                 [[row[0], row[1], row[2], styled(row[3], "green" if row[3] == 0 else "yellow"),
                   styled(row[4], "red")] for _, row in sorted(edges.items())])


def routes_view(rows: list[RouteView]) -> Group:
    """`paasops routes`: the routes, then the edges (when any reports)."""
    if not rows:
        return Group("no app is exposed (app.yml `expose:`)")
    parts: list[Any] = [routes_table(rows)]
    if any(r.edges for r in rows):
        parts += ["", edges_table(rows)]
    else:
        parts += ["", "no edge reports in etcd yet (/paasops/edges/)"]
    return Group(*parts)


def history_table(rows: list[ReleaseView]) -> Table:
    outcome_style = {RELEASE_ACTIVE: "green", RELEASE_FAILED: "red", RELEASE_ROLLED_BACK: "yellow"}
    return table(["RELEASE", "SPEC HASH", "IMAGE", "WHO", "WHEN", "COUNT", "OUTCOME", "NOTE"],
                 [[styled(r.release + (" *" if r.current else ""), "bold" if r.current else None), r.spec_hash[:12],
                   r.image, r.user or "-", fmt_time(r.started_at) if r.started_at else "-", r.count,
                   styled(r.outcome, outcome_style.get(r.outcome)), release_note(r)] for r in rows])


def release_note(r: ReleaseView) -> str:
    """What else a history row says: the release a rollback restored, what ended a release."""
    return "; ".join(filter(None, [f"rollback to {r.rollback_to}" if r.rollback_to else "", r.why or ""]))


def container_pairs(c: ContainerDetail) -> list[tuple[str, Any]]:
    details = c.inspect
    config, net = details.get("Config") or {}, details.get("NetworkSettings") or {}
    return [("id", c.id), ("name", c.name), ("app", c.app), ("host", c.engine),
            ("image", c.image), ("state", c.state), ("health", c.health), ("ready", c.ready),
            ("last probe", last_probe(details)),
            ("started", (details.get("State") or {}).get("StartedAt", "")), ("created", fmt_time(c.created)),
            ("deployment", c.deployment),
            ("spec hash", c.spec_hash), ("cpus", c.cpus), ("memory", fmt_mb(c.memory_mb)),
            ("ports", fmt_ports(c.ports)), ("command", " ".join(config.get("Cmd") or [])),
            ("ip address", net.get("IPAddress") or ""), ("restarts", details.get("RestartCount", "")),
            ("labels", ", ".join(f"{k}={v}" for k, v in sorted(c.labels.items())))]


def last_probe(details: dict[str, Any]) -> str:
    """The engine's last health probe of a container: `exit 1 at …: wget: server returned error …`."""
    log = ((details.get("State") or {}).get("Health") or {}).get("Log") or []
    if not log:
        return ""
    last = log[-1]
    output = " ".join(str(last.get("Output") or "").split())
    return f"exit {last.get('ExitCode')} at {str(last.get('End', ''))[:19]}" + (f": {output}" if output else "")


def action_line(done: str, view: ContainerInfo | ContainerGone) -> str:
    """`started 0123456789ab (web-1 on lab1): running`, or just the id of a container that went away."""
    from ..results import ContainerGone

    if isinstance(view, ContainerGone):  # the answer's declared union, not a guess
        return f"{done} {view.id[:12]}"
    return f"{done} {view.id[:12]}" + (f" ({view.name} on {view.engine}): {view.state}" if view.name else "")


def result_view(result: DeployResult) -> Group:
    """A deploy or scale result: a headline, the replicas started and the ones removed."""
    before = f"{result.before} -> " if result.before is not None else ""
    parts: list[Any] = [f"[bold]{escape(result.app)}[/]: {before}{result.count} replicas, "
                        f"{result.running_now} running (deployment {escape((result.deployment or '')[:12])})"]
    if result.new_release and result.changes:
        parts.append(f"new release: {len(result.changes)} change(s) from the one that ran")
    if result.rolled_back:
        parts.append(f"[red]rolling update failed: rolled back to the previous release[/] "
                     f"({len(result.replicas)} replica(s) restored)")
    elif result.paused:
        parts.append("[yellow]rolling update failed: paused, the deployment is left pending[/]")
    elif result.batches:
        parts.append(f"rolled out in {result.batches} batch(es)")
    if result.replicas:
        parts.append(replicas_table(result.replicas))
    parts.extend(removed_lines(result.removed))
    parts.extend(escape(failure_line(f)) for f in result.failures or [])
    return Group(*parts)


def failure_line(failure: Any) -> str:
    """A ReplicaFailure (or its JSON, from a progress event) as
    `failed: replica 7 (web-7 on lab1), batch 1: unhealthy: health check exit 1: wget: ... 404`."""
    f = failure if isinstance(failure, dict) else failure.model_dump()
    where = f" ({f['name']} on {f['host']})" if f.get("name") else ""
    detail = f": {f['detail']}" if f.get("detail") else ""
    return f"failed: replica {f['index']}{where}, batch {f['batch']}: {f['reason']}{detail}"


def change_line(change: Any) -> str:
    """One spec change (a SpecChange or its JSON): `env.GREETING: 'hi' -> 'hello'`; a secret: `changed` only."""
    c = change if isinstance(change, dict) else change.model_dump()
    if c.get("secret"):
        return f"{c['field']}: {c['change']} (secret)"
    old, new = c.get("old"), c.get("new")
    shown = {"added": f"+ {new!r}", "removed": f"- {old!r}"}.get(c["change"], f"{old!r} -> {new!r}")
    return f"{c['field']}: {shown}"


def changes_lines(changes: list[Any], new_release: bool) -> list[str]:
    """What a deploy changes: each field, or that it keeps the release (a scale at most)."""
    if not new_release:
        return ["same release: no spec change (a scale at most)"]
    return ["changes:"] + [escape("  " + change_line(c)) for c in changes] if changes else ["a new app"]


def removed_lines(removed: list[RemovedReplica]) -> list[str]:
    return [escape(f"removed {gone.id[:12]}" + (f" ({gone.name} on {gone.host})" if gone.host else ""))
            for gone in removed]


def app_deleted(result: AppDeleted) -> Group:
    """An app deleted: its name, then each replica destroyed."""
    return Group(f"deleted app [bold]{escape(result.deleted)}[/]", *removed_lines(result.removed))


def plan_view(result: DryRunPlan) -> Group:
    """A dry run: the plan, then why (each host's score terms, or the filter that rejected it)."""
    return Group(plan_table(result), "", explanation_table(result.explanation), "",
                 *changes_lines(result.changes, result.new_release))


def cluster_view(info: ClusterInfo) -> Group:
    return Group(cluster_summary(info), "", engines_table(info.hosts))


def check_result(result: DeployResult) -> None:
    if result.rolled_back or result.paused:
        done = "rolled back to the previous release" if result.rolled_back else "paused (left pending)"
        raise PaasopsError(f"rolling update {done}: " + "; ".join(failure_line(f) for f in (result.failures or [])[:5]),
                           where=result.app)
    failed = result.failed
    if failed:
        raise PaasopsError(f"{len(failed)} of {len(result.replicas)} replicas did not start: "
                           + "; ".join(f"replica {r.index}: {r.error}" for r in failed[:5]),
                           where=result.app)


class DeployProgress:
    """A rich progress bar fed by the deploy's NDJSON progress events (on stderr: stdout keeps the table)."""

    def __init__(self, console: Console):
        self.console = console
        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True)
        self.task = self.bar.add_task("placing", total=None)

    def __enter__(self) -> DeployProgress:
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
        elif kind == "changes":
            for line in changes_lines(event.get("changes") or [], True):
                self.console.print(line)
        elif kind == "batch":
            self.batch_line(event)
        elif kind == "rollback":
            self.console.print(f"[red]rolling back[/]: restoring {event.get('replicas')} replica(s) of the "
                               "previous release")
        elif kind == "removed":
            self.console.print(f"removed {str(event.get('id'))[:12]} on {escape(str(event.get('host')))}")

    def batch_line(self, event: dict) -> None:
        """A rolling update's batch: `batch 2/6 ready`, or what failed in it."""
        where = f"batch {event.get('batch')}/{event.get('of')}"
        state = event.get("state")
        if state == "starting":
            self.bar.update(self.task, description=f"{where}: starting {event.get('start')}")
        elif state == "ready":
            self.console.print(f"{where} ready")
        elif state == "failed":
            self.console.print(f"[red]{where} failed[/]")
            for f in event.get("failures") or []:
                self.console.print(escape(failure_line(f)))
