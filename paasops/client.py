"""A small client of the paasops HTTP API (httpx): one method per route, errors mapped back to paasops errors."""

from __future__ import annotations

import json
import os
import ssl
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import platformdirs
from pydantic import TypeAdapter, ValidationError

from . import errors
from .errors import (
    AuthError,
    ConflictError,
    ConnectionFailed,
    ForbiddenError,
    NotFoundError,
    PaasopsError,
    RateLimited,
    UserInputError,
)
from .results import (
    AppDeleted,
    AppView,
    CertificateRemoved,
    CertificateView,
    ClusterInfo,
    ContainerDetail,
    ContainerGone,
    ContainerInfo,
    CordonResult,
    DeployResult,
    Destroyed,
    DrainResult,
    DryRunPlan,
    EngineAdmitted,
    EngineDeleted,
    EngineView,
    EventView,
    RebalanceResult,
    ReconcileResult,
    ReleaseView,
    Report,
    RouteView,
    UndrainResult,
    WhatIfPlan,
)

DEFAULT_SERVER = "http://127.0.0.1:5002"
BY_STATUS: dict[int, type[PaasopsError]] = {400: UserInputError, 401: AuthError, 403: ForbiddenError,
                                            404: NotFoundError, 409: ConflictError, 422: UserInputError,
                                            429: RateLimited}
Progress = Callable[[dict[str, Any]], None]
T = TypeVar("T")


def _seg(value: str) -> str:
    """One path segment, quoted: an id or name never changes which route is called."""
    return quote(str(value), safe="")


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir("paasops"))


def resolve_server(explicit: str | None = None) -> str:
    """--server, else $PAASOPS_SERVER, else `server` in the config file, else the default."""
    if explicit:
        return explicit.rstrip("/")
    if os.environ.get("PAASOPS_SERVER"):
        return os.environ["PAASOPS_SERVER"].rstrip("/")
    path = config_dir() / "config.toml"
    try:
        server = tomllib.loads(path.read_text(encoding="utf-8")).get("server")
    except FileNotFoundError:
        server = None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserInputError(f"cannot read: {exc}", where=str(path)) from None
    return str(server).rstrip("/") if server else DEFAULT_SERVER


TOKEN_ENV = "PAASOPS_TOKEN"  # an API token for jobs (`paasops tokens create`), instead of a login
TOKEN_FILE_ENV = "PAASOPS_TOKEN_FILE"  # or a file holding it (keep it 0600)


def read_token() -> str | None:
    """$PAASOPS_TOKEN, else the file $PAASOPS_TOKEN_FILE names, else the token `paasops login` keeps in the
    user's config dir (mode 0600), if there is one."""
    if os.environ.get(TOKEN_ENV, "").strip():
        return os.environ[TOKEN_ENV].strip()
    named = os.environ.get(TOKEN_FILE_ENV, "").strip()
    path = Path(named) if named else config_dir() / "token"
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        if named:
            raise UserInputError("cannot read the token file", where=f"{TOKEN_FILE_ENV}={named}") from None
        return None


def error_for(status: int, body: Any, fallback: str = "") -> PaasopsError:
    """The paasops error for an error answer: the one the body names if it fits the status, else by status."""
    body = body if isinstance(body, dict) else {}
    message = body.get("error") or fallback or f"HTTP {status}"
    cls = BY_STATUS.get(status) or (ConnectionFailed if status in (502, 503, 504) else PaasopsError)
    named = getattr(errors, str(body.get("type")), None)
    if isinstance(named, type) and issubclass(named, PaasopsError) and named.http_status == status:
        cls = named
    err = cls.__new__(cls)
    PaasopsError.__init__(err, message)
    err.status, err.body = status, body
    err.candidates = body.get("candidates", [])
    return err


def _retry_after(header: str | None) -> float:
    """Seconds from a Retry-After header (seconds only: the service never sends a date)."""
    try:
        return max(0.0, float(header or 1))
    except ValueError:
        return 1.0


def _verify(base_url: str) -> ssl.SSLContext | bool:
    """HTTPS trusts the system CAs and, when present, the cluster CA (the service's cert may come from it)."""
    if not base_url.startswith("https://"):
        return True
    from .pki import default_pki_dir

    context = ssl.create_default_context()
    ca = default_pki_dir() / "ca.pem"
    if ca.exists():
        context.load_verify_locations(cafile=str(ca))
    return context


class ApiClient:
    """The paasops service as Python calls; every method answers the API's JSON parsed into its result model."""

    def __init__(self, base_url: str | None = None, token: str | None = None, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None):
        self.base_url = resolve_server(base_url)
        self.token = token if token is not None else read_token()
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout,
                                  transport=transport, verify=_verify(self.base_url))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------
    def _unreachable(self, exc: Exception) -> ConnectionFailed:
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            return ConnectionFailed(f"paasops service at {self.base_url} did not answer in time ({exc})")
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, ssl.SSLError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            return ConnectionFailed(f"TLS with the paasops service at {self.base_url} failed: "
                                    f"{getattr(cause, 'verify_message', None) or cause.reason or cause} (its "
                                    "certificate must come from a public CA or the cluster CA in the pki dir)")
        if not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):  # connected, then the talk broke
            hint = "; if it serves HTTPS, use an https:// address" if self.base_url.startswith("http://") else ""
            return ConnectionFailed(f"the paasops service at {self.base_url} broke the connection "
                                    f"({type(exc).__name__}: {exc}){hint}")
        return ConnectionFailed(f"paasops service not reachable at {self.base_url}: is `paasops serve` running?")

    @staticmethod
    def _params(params: dict[str, Any] | None) -> dict[str, Any]:
        out = {}
        for key, value in (params or {}).items():
            if value is not None:
                out[key] = str(value).lower() if isinstance(value, bool) else value
        return out

    def _check(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        response.read()
        try:
            body = response.json()
        except ValueError:
            body = None
        err = error_for(response.status_code, body, response.text.strip()[:300] or response.reason_phrase)
        if isinstance(err, RateLimited):  # e.g. too many follows open: say when to come back
            wait = _retry_after(response.headers.get("Retry-After"))
            err.retry_after = wait
            err.args = (f"{err} (try again in {wait:g} s)",)
        raise err

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        try:
            response = self._http.request(method, path, params=self._params(params), json=body)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        self._check(response)
        return response.json()

    def parse(self, shape: type[T] | Any, answer: Any) -> T:
        """An answer as its result model (`shape` may be a list or a union of models)."""
        try:
            return TypeAdapter(shape).validate_python(answer)
        except ValidationError as exc:
            raise ConnectionFailed(f"the paasops service at {self.base_url} answered an unexpected shape "
                                   f"(is it another version?): {exc.errors()[0].get('msg')}") from None

    def call(self, shape: type[T] | Any, method: str, path: str, **kwargs: Any) -> T:
        """request(), parsed into `shape`."""
        return self.parse(shape, self.request(method, path, **kwargs))

    @contextmanager
    def _stream(self, method: str, path: str, *, params=None, body=None,
                read: float | None = None) -> Iterator[httpx.Response]:
        timeout = httpx.Timeout(self.timeout, read=read)  # a stream may stay quiet for long
        try:
            with self._http.stream(method, path, params=self._params(params), json=body,
                                   timeout=timeout) as response:
                self._check(response)
                yield response
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None

    # -- engines -------------------------------------------------------------------------
    def engines(self) -> list[EngineView]:
        return self.call(list[EngineView], "GET", "/api/engines")

    def engine(self, engine_id: str) -> EngineView:
        return self.call(EngineView, "GET", f"/api/engines/{_seg(engine_id)}")

    def add_engine(self, address: str, *, id: str | None = None, port: int = 2376,
                   labels: dict[str, str] | None = None, cpus: float | None = None,
                   memory_mb: int | None = None, tls: bool = True, insecure_tcp: bool = False) -> EngineView:
        body = {"address": address, "id": id, "port": port, "labels": labels or {}, "cpus": cpus,
                "memory_mb": memory_mb, "tls": tls, "insecure_tcp": insecure_tcp}
        return self.call(EngineView, "POST", "/api/engines", body=body)

    def delete_engine(self, engine_id: str) -> EngineDeleted:
        return self.call(EngineDeleted, "DELETE", f"/api/engines/{_seg(engine_id)}")

    def admit_engine(self, engine_id: str) -> EngineAdmitted:
        return self.call(EngineAdmitted, "POST", f"/api/engines/{_seg(engine_id)}/admit")

    def drain_engine(self, engine_id: str, on_progress: Progress | None = None) -> DrainResult:
        """Drain an engine: unschedulable, its replicas moved elsewhere; each progress line (`{"event": "step",
        "line": ...}`) to `on_progress` as it comes. PlacementError (409) when the others cannot hold them."""
        return self._progress_call(DrainResult, f"/api/engines/{_seg(engine_id)}/drain", None, on_progress)

    def cordon_engine(self, engine_id: str) -> CordonResult:
        return self.call(CordonResult, "POST", f"/api/engines/{_seg(engine_id)}/cordon")

    def undrain_engine(self, engine_id: str) -> UndrainResult:
        return self.call(UndrainResult, "POST", f"/api/engines/{_seg(engine_id)}/undrain")

    # -- cluster and events ----------------------------------------------------------------
    def cluster_info(self) -> ClusterInfo:
        return self.call(ClusterInfo, "GET", "/api/cluster/info")

    def events(self, *, type: str | None = None, tag: str | None = None, app: str | None = None,
               host: str | None = None, since: float | None = None, until: float | None = None,
               limit: int | None = None) -> list[EventView]:
        return self.call(list[EventView], "GET", "/api/events",
                         params=dict(type=type, tag=tag, app=app, host=host, since=since, until=until, limit=limit))

    def record_event(self, type: str, *, host: str | None = None, message: str = "",
                     data: dict[str, Any] | None = None) -> EventView:
        """Record a client's event (admins; the types of vocabulary.CLIENT_EVENT_TYPES)."""
        body = {"type": type, "host": host, "message": message, "data": data or {}}
        return self.call(EventView, "POST", "/api/events", body=body)

    def event_stream(self, *, type: str | None = None, tag: str | None = None, app: str | None = None,
                     host: str | None = None, since: float | None = None) -> Iterator[EventView]:
        """New events as the service stores them (after those since `since`, when given), until the
        service ends the stream; ConnectionFailed when it breaks."""
        params = dict(type=type, tag=tag, app=app, host=host, since=since)
        # the service sends an empty line after 10 s of quiet: 30 s of silence is a dead connection
        with self._stream("GET", "/api/events/stream", params=params, read=30.0) as response:
            try:
                for line in response.iter_lines():
                    if line.strip():  # empty lines only keep the connection alive
                        yield self.parse(EventView, json.loads(line))
            except httpx.TransportError as exc:
                raise self._unreachable(exc) from None

    # -- containers ----------------------------------------------------------------------
    def containers(self, *, all: bool = True, app: str | None = None, foreign: bool = False) -> list[ContainerInfo]:
        params = {"all": all, "app": app, **({"foreign": True} if foreign else {})}
        return self.call(list[ContainerInfo], "GET", "/api/containers", params=params)

    def plan(self, spec: dict[str, Any], count: int | None = None) -> DryRunPlan:
        """Where a deploy would put the replicas, and why (a dry run: nothing starts)."""
        body = {"spec": spec, "count": count, "dry_run": True}
        return self.call(DryRunPlan, "POST", "/api/containers", body=body)

    def what_if(self, *, lose: list[str] | None = None, drain: list[str] | None = None,
                add: list[dict[str, Any]] | None = None, spec: dict[str, Any] | None = None,
                count: int | None = None, explain: int | None = 20) -> WhatIfPlan:
        """What losing, draining or adding hosts (and deploying `spec`) would do; nothing changes."""
        body = {"lose": lose or [], "drain": drain or [], "add": add or [], "spec": spec, "count": count,
                "explain": explain}
        return self.call(WhatIfPlan, "POST", "/api/plan", body=body)

    def rebalance(self, *, plan: bool = True, max_moves: int | None = None, app: str | None = None,
                  on_progress: Progress | None = None) -> RebalanceResult:
        """The moves that bring the cluster closest to what placement chooses today (`plan`), or make at most
        `max_moves` of them, each progress line (`{"event": "step", "line": ...}`) to `on_progress`."""
        body = {"plan": plan, "max_moves": max_moves, "app": app}
        if plan:
            return self.call(RebalanceResult, "POST", "/api/rebalance", body=body)
        return self._progress_call(RebalanceResult, "/api/rebalance", body, on_progress)

    def deploy(self, spec: dict[str, Any], count: int | None = None,
               on_progress: Progress | None = None) -> DeployResult:
        """Deploy an app (`plan` is the dry run); progress events go to `on_progress` as they come."""
        body = {"spec": spec, "count": count, "dry_run": False}
        return self._progress_call(DeployResult, "/api/containers", body, on_progress)

    def _progress_call(self, shape: type[T], path: str, body: Any, on_progress: Progress | None) -> T:
        """POST `path` with `stream=true`: each progress event to `on_progress`, then the result as `shape`."""
        with self._stream("POST", path, params={"stream": True}, body=body) as response:
            for line in response.iter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("event") == "result":
                    return self.parse(shape, event["result"])
                if event.get("event") == "error":
                    raise error_for(int(event.get("status") or 500), event)
                if on_progress is not None:
                    on_progress(event)
        raise ConnectionFailed(f"the stream of {path} from {self.base_url} ended without a result")

    def container(self, container_id: str, *, foreign: bool = False) -> ContainerDetail:
        params = {"foreign": True} if foreign else None
        return self.call(ContainerDetail, "GET", f"/api/containers/{_seg(container_id)}", params=params)

    def destroy(self, container_id: str) -> Destroyed:
        return self.call(Destroyed, "DELETE", f"/api/containers/{_seg(container_id)}")

    def _operate(self, action: str, container_id: str) -> ContainerInfo | ContainerGone:
        return self.call(ContainerInfo | ContainerGone, "POST", f"/api/containers/{_seg(container_id)}/{action}")

    def start(self, container_id: str) -> ContainerInfo | ContainerGone:
        return self._operate("start", container_id)

    def stop(self, container_id: str) -> ContainerInfo | ContainerGone:
        return self._operate("stop", container_id)

    def restart(self, container_id: str) -> ContainerInfo | ContainerGone:
        return self._operate("restart", container_id)

    def scale_container(self, container_id: str, count: int) -> DeployResult:
        return self.call(DeployResult, "POST", f"/api/containers/{_seg(container_id)}/scale", body={"count": count})

    def logs(self, container_id: str, *, follow: bool = False, tail: int | str = "all", stdout: bool = True,
             stderr: bool = True) -> Iterator[str]:
        """The container's output as text chunks; with `follow`, until the container stops or the service
        ends the stream (its idle timeout, or a shutdown): a clean end. Too many follows open: RateLimited."""
        params = {"follow": follow, "tail": tail, "stdout": stdout, "stderr": stderr}
        with self._stream("GET", f"/api/containers/{_seg(container_id)}/logs", params=params) as response:
            yield from response.iter_text()

    # -- apps ----------------------------------------------------------------------------
    def apps(self) -> list[AppView]:
        return self.call(list[AppView], "GET", "/api/apps")

    def app(self, name: str) -> AppView:
        return self.call(AppView, "GET", f"/api/apps/{_seg(name)}")

    def scale_app(self, name: str, count: int) -> DeployResult:
        return self.call(DeployResult, "POST", f"/api/apps/{_seg(name)}/scale", body={"count": count})

    def delete_app(self, name: str) -> AppDeleted:
        return self.call(AppDeleted, "DELETE", f"/api/apps/{_seg(name)}")

    def app_history(self, name: str) -> list[ReleaseView]:
        """App `name`'s releases, newest first."""
        return self.call(list[ReleaseView], "GET", f"/api/apps/{_seg(name)}/history")

    def rollback(self, name: str, to: str | None = None, on_progress: Progress | None = None) -> DeployResult:
        """Deploy release `to` of app `name` again (None: the one before the current); progress as `deploy`."""
        return self._progress_call(DeployResult, f"/api/apps/{_seg(name)}/rollback", {"to": to}, on_progress)

    def routes(self) -> list[RouteView]:
        """The routes of the apps this account may see, with each edge's view of them."""
        return self.call(list[RouteView], "GET", "/api/routes")

    # -- cron jobs -----------------------------------------------------------------------
    def reconcile(self, dry_run: bool = False, apps: list[str] | None = None) -> ReconcileResult:
        return self.call(ReconcileResult, "POST", "/api/reconcile", body={"dry_run": dry_run, "apps": apps or None})

    def report(self) -> Report:
        return self.call(Report, "GET", "/api/report")

    # -- edge certificates (admins) ------------------------------------------------------
    def certs(self) -> list[CertificateView]:
        return self.call(list[CertificateView], "GET", "/api/certs")

    def issue_cert(self, hostname: str, days: int | None = None) -> CertificateView:
        """A certificate for `hostname` from the cluster CA (days: the service's default when None)."""
        body: dict[str, Any] = {"hostname": hostname} | ({"days": days} if days is not None else {})
        return self.call(CertificateView, "POST", "/api/certs/issue", body=body)

    def add_cert(self, hostname: str, cert_pem: str, key_pem: str) -> CertificateView:
        """A user's certificate chain and private key for `hostname` (checked by the service)."""
        return self.call(CertificateView, "POST", "/api/certs", body={"hostname": hostname, "cert": cert_pem,
                                                                       "key": key_pem})

    def remove_cert(self, hostname: str) -> CertificateRemoved:
        return self.call(CertificateRemoved, "DELETE", f"/api/certs/{_seg(hostname)}")
