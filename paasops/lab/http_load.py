"""A bounded, self-stopping HTTP load generator for the lab: open loop (fixed rate) or closed loop (C workers).

For the lab and the benches only: it sends GET requests to the one URL it is given, whose host must resolve
to loopback or private addresses (the lab hosts, this machine), never anywhere else; every run is bounded
(rate <= 2000 requests/s, duration <= 600 s, <= 256 workers) and stops by itself at its deadline.
Stdlib only: `http.client` keep-alive connections (or one per request), one per worker thread.

Every request is recorded (start offset, latency, status, the replica that answered: a response header or
the first line of the body) with the reason of each failure (refused, reset, closed, timeout, http NNN). A
request on a reused keep-alive connection that the server had closed before answering is retried once on a
new connection, as browsers and HTTP libraries do for idempotent requests; such retries are counted apart.
"""

from __future__ import annotations

import http.client
import ipaddress
import itertools
import math
import socket
import ssl
import threading
import time
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from ..errors import UserInputError

MAX_RATE = 2000  # requests/s, open loop
MAX_DURATION = 600.0  # seconds
MAX_WORKERS = 256
MAX_TIMEOUT = 30.0
REPLICA_MAX_CHARS = 64
BODY_MAX_BYTES = 1 << 20
USER_AGENT = "paasops-http-load"
OPEN, CLOSED = "open", "closed"


# -- pure parts ---------------------------------------------------------------------------------------------

def check_limits(*, duration: float, rate: float | None = None, workers: int | None = None,
                 timeout: float = 2.0) -> None:
    """Refuse a load outside the bounds (UserInputError naming the argument)."""
    if not 0 < duration <= MAX_DURATION:
        raise UserInputError(f"duration {duration:g} s is not in (0, {MAX_DURATION:g}]", where="http load")
    if rate is not None and not 0 < rate <= MAX_RATE:
        raise UserInputError(f"rate {rate:g}/s is not in (0, {MAX_RATE}]", where="http load")
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise UserInputError(f"workers {workers} is not in [1, {MAX_WORKERS}]", where="http load")
    if not 0 < timeout <= MAX_TIMEOUT:
        raise UserInputError(f"timeout {timeout:g} s is not in (0, {MAX_TIMEOUT:g}]", where="http load")


def allowed_address(address: str) -> bool:
    """Whether load may go to this IP address: loopback or private (lab networks) only."""
    ip = ipaddress.ip_address(address.split("%")[0])
    return ip.is_loopback or (ip.is_private and not ip.is_unspecified and not ip.is_link_local)


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank q-th percentile (0 < q <= 100) of ascending values; NaN when there are none."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Window:
    """A run of consecutive failed requests (no success between them), by start offset."""

    first: float
    last: float
    count: int


def failure_windows(outcomes: Iterable[tuple[float, bool]]) -> list[Window]:
    """Group (start offset, ok) pairs, taken in start order, into windows of consecutive failures."""
    windows: list[Window] = []
    current: Window | None = None
    for offset, ok in sorted(outcomes, key=lambda o: o[0]):
        if ok:
            current = None
        elif current is None:
            current = Window(offset, offset, 1)
            windows.append(current)
        else:
            current.last, current.count = offset, current.count + 1
    return windows


@dataclass
class Sample:
    offset: float  # seconds from the start of the load to this request's send
    latency_ms: float
    status: int  # 0: no HTTP answer
    replica: str | None
    error: str | None  # None: a 2xx answer


@dataclass
class ReplicaSeen:
    count: int
    first: float  # start offset of its first and last answer
    last: float
    first_done: float  # when an answer from it first and last arrived (offset + latency)
    last_done: float


@dataclass
class LoadReport:
    mode: str
    url: str
    host: str | None
    workers: int
    rate: float | None
    duration_s: float
    elapsed_s: float
    total: int
    ok: int
    failed: int
    retried: int  # stale keep-alive connections retried on a new one (not failures)
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    max_lag_ms: float  # open loop: the latest a request was sent after its scheduled time
    replicas: dict[str, ReplicaSeen] = field(default_factory=dict)
    failures: list[tuple[float, str]] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    started_at: float = 0.0  # time.monotonic() at offset 0

    def per_replica(self) -> dict[str, int]:
        return {name: seen.count for name, seen in sorted(self.replicas.items())}

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        rate = f" at {self.rate:g}/s" if self.rate else ""
        lines = [f"{self.mode} loop{rate}, {self.workers} workers, {self.elapsed_s:.1f} s: {self.total} requests, "
                 f"{self.ok} ok, {self.failed} failed, {self.retried} retried; {self.requests_per_s:.0f} req/s; "
                 f"latency ms p50 {self.p50_ms:.2f} p90 {self.p90_ms:.2f} p99 {self.p99_ms:.2f} "
                 f"max {self.max_ms:.2f}" + (f"; max lag {self.max_lag_ms:.0f} ms" if self.mode == OPEN else "")]
        if self.replicas:
            lines.append("per replica: " + ", ".join(f"{k} {v}" for k, v in self.per_replica().items()))
        for w in self.windows[:10]:
            lines.append(f"failed window {w.first:.3f}-{w.last:.3f} s: {w.count} requests")
        if self.failures:
            reasons: dict[str, int] = {}
            for _, reason in self.failures:
                reasons[reason] = reasons.get(reason, 0) + 1
            lines.append("failures: " + ", ".join(f"{r} x{n}" for r, n in sorted(reasons.items())))
        return "\n".join(lines)


def build_report(samples: Sequence[Sample], *, mode: str, url: str, host: str | None, workers: int,
                 rate: float | None, duration: float, elapsed: float, retried: int, max_lag: float,
                 started_at: float) -> LoadReport:
    """The report of a load from its samples (pure)."""
    ordered = sorted(samples, key=lambda s: s.offset)
    latencies = sorted(s.latency_ms for s in ordered if s.error is None)
    replicas: dict[str, ReplicaSeen] = {}
    for s in ordered:
        if s.error is None and s.replica is not None:
            done = s.offset + s.latency_ms / 1000
            seen = replicas.get(s.replica)
            if seen is None:
                replicas[s.replica] = ReplicaSeen(1, s.offset, s.offset, done, done)
            else:
                seen.count, seen.last = seen.count + 1, s.offset
                seen.first_done, seen.last_done = min(seen.first_done, done), max(seen.last_done, done)
    failures = [(s.offset, s.error) for s in ordered if s.error is not None]
    return LoadReport(
        mode=mode, url=url, host=host, workers=workers, rate=rate, duration_s=duration, elapsed_s=elapsed,
        total=len(ordered), ok=len(latencies), failed=len(failures), retried=retried,
        requests_per_s=len(ordered) / elapsed if elapsed > 0 else 0.0,
        p50_ms=percentile(latencies, 50), p90_ms=percentile(latencies, 90), p99_ms=percentile(latencies, 99),
        max_ms=latencies[-1] if latencies else math.nan, max_lag_ms=max_lag * 1000,
        replicas=replicas, failures=failures, windows=failure_windows((s.offset, s.error is None) for s in ordered),
        started_at=started_at)


def failure_reason(exc: BaseException) -> str:
    """A short word for why a request got no answer."""
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "closed"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "reset"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ssl.SSLError):
        return f"tls: {exc.reason or exc}"
    return f"{type(exc).__name__}: {exc}"[:120]


# -- I/O --------------------------------------------------------------------------------------------------

def resolve_checked(host: str, port: int) -> None:
    """Refuse a target that resolves to anything but loopback or private addresses."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UserInputError(f"cannot resolve {host!r}: {exc}", where="http load") from None
    bad = sorted({str(info[4][0]) for info in infos if not allowed_address(str(info[4][0]))})
    if bad:
        raise UserInputError(f"{host} resolves to {', '.join(bad)}: the lab load generator sends only to "
                             "loopback or private addresses", where="http load")


class _TLSConnection(http.client.HTTPSConnection):
    """HTTPS to an address, with SNI and certificate check for a given name (the Host header)."""

    def __init__(self, host: str, port: int, *, server_name: str, context: ssl.SSLContext, timeout: float):
        super().__init__(host, port, timeout=timeout, context=context)
        self._server_name, self._tls = server_name, context

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._tls.wrap_socket(self.sock, server_hostname=self._server_name)


class _Recorder:
    """One worker's samples, in compact arrays (up to 1.2M requests per load stay small)."""

    def __init__(self) -> None:
        self.offsets, self.latencies = array("d"), array("d")
        self.statuses, self.replica_ids = array("H"), array("i")
        self.names: list[str] = []
        self.name_ids: dict[str, int] = {}
        self.errors: dict[int, str] = {}  # index -> reason
        self.retried = 0
        self.max_lag = 0.0

    def add(self, offset: float, latency: float, status: int, replica: str | None, error: str | None) -> None:
        rid = -1
        if replica is not None:
            rid = self.name_ids.setdefault(replica, len(self.names))
            if rid == len(self.names):
                self.names.append(replica)
        if error is not None:
            self.errors[len(self.offsets)] = error
        self.statuses.append(status)
        self.replica_ids.append(rid)
        self.latencies.append(latency * 1000)
        self.offsets.append(offset)  # last: its length says how many samples are complete

    def samples(self) -> list[Sample]:
        n = len(self.offsets)
        names = list(self.names)
        return [Sample(self.offsets[i], self.latencies[i], self.statuses[i],
                       names[self.replica_ids[i]] if self.replica_ids[i] >= 0 else None, self.errors.get(i))
                for i in range(n)]


class HttpLoad:
    """A load against one URL; `start()` runs it in the background, `run()` until it ends by itself."""

    def __init__(self, url: str, *, duration: float, rate: float | None = None, concurrency: int | None = None,
                 workers: int | None = None, host: str | None = None, ssl_context: ssl.SSLContext | None = None,
                 timeout: float = 2.0, replica_header: str | None = None, keep_alive: bool = True):
        if (rate is None) == (concurrency is None):
            raise UserInputError("give exactly one of rate (open loop) or concurrency (closed loop)",
                                 where="http load")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserInputError(f"{url!r} is not an http:// or https:// URL", where="http load")
        self.mode = OPEN if rate is not None else CLOSED
        default_workers = min(MAX_WORKERS, max(8, int(rate or 0) // 5))  # open loop: rate x 200 ms in flight
        self.workers = concurrency if concurrency is not None else workers or default_workers
        check_limits(duration=duration, rate=rate, workers=self.workers, timeout=timeout)
        self.url, self.duration, self.rate, self.timeout = url, float(duration), rate, timeout
        self.address, self.tls = parts.hostname, parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.host, self.replica_header, self.keep_alive = host, replica_header, keep_alive
        self.ssl_context = ssl_context or (ssl.create_default_context() if self.tls else None)
        resolve_checked(self.address, self.port)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._recorders: list[_Recorder] = []
        self._slots = itertools.count()
        self.started_at = 0.0
        self._ended_at: float | None = None

    # -- control ---------------------------------------------------------------------------------------
    def start(self) -> HttpLoad:
        if self._threads:
            raise UserInputError("this load was started already", where="http load")
        self.started_at = time.monotonic()
        for n in range(self.workers):
            recorder = _Recorder()
            self._recorders.append(recorder)
            thread = threading.Thread(target=self._work, args=(recorder,), name=f"http-load-{n}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def stop(self) -> None:
        """Stop early: no new request starts; those in flight end within the timeout."""
        self._stop.set()
        self.wait()

    def wait(self, timeout: float | None = None) -> bool:
        """Until every worker ended (the deadline plus at most one request timeout); True if they did."""
        limit = time.monotonic() + (timeout if timeout is not None else self.duration + 2 * self.timeout + 5)
        for thread in self._threads:
            thread.join(max(0.0, limit - time.monotonic()))
        done = not any(t.is_alive() for t in self._threads)
        if done and self._ended_at is None:
            self._ended_at = time.monotonic()
        return done

    def run(self) -> LoadReport:
        self.start()
        self.wait()
        return self.report()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def samples(self) -> list[Sample]:
        return sorted((s for r in self._recorders for s in r.samples()), key=lambda s: s.offset)

    def report(self) -> LoadReport:
        """The report so far (callable while the load runs)."""
        end = self._ended_at or time.monotonic()
        elapsed = min(end - self.started_at, self.duration) if self.started_at else 0.0
        return build_report(self.samples(), mode=self.mode, url=self.url, host=self.host, workers=self.workers,
                            rate=self.rate, duration=self.duration, elapsed=elapsed,
                            retried=sum(r.retried for r in self._recorders),
                            max_lag=max((r.max_lag for r in self._recorders), default=0.0),
                            started_at=self.started_at)

    # -- the workers -----------------------------------------------------------------------------------
    def _connect(self) -> http.client.HTTPConnection:
        if self.tls:
            assert self.ssl_context is not None
            return _TLSConnection(self.address, self.port, server_name=self.host or self.address,
                                  context=self.ssl_context, timeout=self.timeout)
        return http.client.HTTPConnection(self.address, self.port, timeout=self.timeout)

    def _work(self, rec: _Recorder) -> None:
        deadline = self.started_at + self.duration
        conn: http.client.HTTPConnection | None = None
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
        if self.host:
            headers["Host"] = self.host
        if not self.keep_alive:  # a new connection per request, as to a server that closes each one
            headers["Connection"] = "close"
        try:
            while not self._stop.is_set():
                if self.rate is not None:
                    slot = self.started_at + next(self._slots) / self.rate
                    if slot >= deadline or self._stop.wait(max(0.0, slot - time.monotonic())):
                        break
                    rec.max_lag = max(rec.max_lag, time.monotonic() - slot)
                elif time.monotonic() >= deadline:
                    break
                sent = time.monotonic()
                status, replica, error = 0, None, None
                for attempt in (1, 2):
                    if conn is None:
                        conn = self._connect()
                    reused = conn.sock is not None  # else http.client opens a new one (the server closed it)
                    try:
                        status, replica = self._get(conn, headers)
                        error = None if 200 <= status < 300 else f"http {status}"
                        break
                    except (http.client.HTTPException, OSError) as exc:
                        conn.close()
                        stale = reused and isinstance(exc, http.client.RemoteDisconnected | ConnectionResetError
                                                      | BrokenPipeError)
                        conn, error = None, failure_reason(exc)
                        if not (stale and attempt == 1):
                            break
                        rec.retried += 1
                done = time.monotonic()
                rec.add(sent - self.started_at, done - sent, status, replica, error)
        finally:
            if conn is not None:
                conn.close()

    def _get(self, conn: http.client.HTTPConnection, headers: dict[str, str]) -> tuple[int, str | None]:
        conn.request("GET", self.path, headers=headers)
        response = conn.getresponse()
        body = response.read(BODY_MAX_BYTES)
        if not response.isclosed():  # a body over the cap: do not reuse the connection
            conn.close()
        if self.replica_header:
            replica = response.getheader(self.replica_header)
        else:
            first = body.split(b"\n", 1)[0].strip()
            replica = first.decode("utf-8", "replace")[:REPLICA_MAX_CHARS] if first else None
        return response.status, replica or None
