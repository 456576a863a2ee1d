"""ICMP (and optional Docker API) heartbeats to every engine, feeding the health tracker."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import os
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from icmplib import ICMPv4Socket
from icmplib.exceptions import ICMPLibError

from ..errors import PaasopsError
from .health import DOWN, HealthTracker, Signals, Transition

log = logging.getLogger(__name__)

ECHO_REQUEST, ECHO_REPLY = 8, 0
SOL_RAW, ICMP_FILTER = 255, 1  # linux/icmp.h: drop every ICMP type but those cleared in the mask
BUFFER_BYTES = 8 * 1024 * 1024
SEND_BATCH = 256  # sends between yields, so replies are drained while a big round goes out


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total & 0xFFFF) + (total >> 16)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(ident: int, seq: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, seq)
    return struct.pack("!BBHHH", ECHO_REQUEST, 0, _checksum(header + payload), ident, seq) + payload


@dataclass
class RoundStats:
    seq: int
    addresses: int
    replies: int
    send_errors: int
    elapsed: float  # from the first echo sent to the last reply, or to the timeout


class IcmpProber:
    """Sends one echo per address per round on ONE socket and matches replies to the round.

    Privileged (root) uses a raw socket, which sees every echo reply on the machine: a reply
    counts only with our identifier, the round's sequence and our random token in the payload.
    Unprivileged uses a ping datagram socket; the kernel then hands us only our own replies.
    """

    def __init__(self, privileged: bool | None = None):
        self.privileged = os.geteuid() == 0 if privileged is None else privileged
        try:
            self._icmp = ICMPv4Socket(privileged=self.privileged)  # icmplib keeps it open
        except ICMPLibError as exc:
            raise PaasopsError(f"cannot open an ICMP socket ({exc}); run as root or allow "
                               "unprivileged ping (sysctl net.ipv4.ping_group_range)",
                               where="heartbeat") from exc
        self.sock = self._icmp.sock
        self.sock.setblocking(False)
        for force, plain in ((getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF),
                             (getattr(socket, "SO_SNDBUFFORCE", None), socket.SO_SNDBUF)):
            for option in (force, plain):
                try:
                    self.sock.setsockopt(socket.SOL_SOCKET, option, BUFFER_BYTES)
                    break
                except (OSError, TypeError):
                    continue
        if self.privileged:
            try:
                self.sock.setsockopt(SOL_RAW, ICMP_FILTER,
                                     struct.pack("I", 0xFFFFFFFF & ~(1 << ECHO_REPLY)))
            except OSError:
                pass  # only a saving: the parser filters anyway
        self.ident = random.randrange(1, 0x10000)
        self.token = os.urandom(8)
        self._seq = random.randrange(0x10000)
        self._pending: set[str] = set()
        self._answered: set[str] = set()
        self._done: asyncio.Future | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self.sock.fileno(), self._on_readable)

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self.sock.fileno())
        self._icmp.close()

    async def probe(self, addresses: Iterable[str], timeout: float) -> tuple[set[str], RoundStats]:
        """Ping each (IPv4, normalised) address once; the set of those that answered in time.

        The round ends `timeout` after it began, so a big round fits its tick, but never
        sooner than a quarter of the timeout after the last echo went out.
        """
        self._seq = (self._seq + 1) & 0xFFFF
        packet = echo_request(self.ident, self._seq, self.token)
        self._pending, self._answered = set(addresses), set()
        self._done = asyncio.get_running_loop().create_future()
        started, errors = time.monotonic(), 0
        for i, address in enumerate(self._pending):
            errors += not await self._send(packet, address)
            if i % SEND_BATCH == SEND_BATCH - 1:
                await asyncio.sleep(0)
        if len(self._answered) < len(self._pending):
            wait = max(started + timeout - time.monotonic(), timeout / 4)
            try:
                await asyncio.wait_for(self._done, wait)
            except TimeoutError:
                pass
        answered, sent = self._answered, len(self._pending)
        elapsed = time.monotonic() - started
        self._pending, self._answered, self._done = set(), set(), None
        return answered, RoundStats(self._seq, sent, len(answered), errors, elapsed)

    async def _send(self, packet: bytes, address: str) -> bool:
        for _ in range(50):
            try:
                self.sock.sendto(packet, (address, 0))
                return True
            except (BlockingIOError, InterruptedError):
                await asyncio.sleep(0.001)  # buffer full: let the reader drain, then retry
            except OSError as exc:
                log.debug("echo to %s not sent: %s", address, exc)
                return False
        return False

    def _on_readable(self) -> None:
        for _ in range(4096):  # bounded, so one busy socket never starves the loop
            try:
                data, (source, _) = self.sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error queued on a ping socket; nothing to match
            self._match(data, source)

    def _match(self, data: bytes, source: str) -> None:
        if self.privileged:
            data = data[(data[0] & 0x0F) * 4:] if data else b""
        if len(data) < 16 or data[0] != ECHO_REPLY:
            return
        ident, seq = struct.unpack_from("!HH", data, 4)
        if seq != self._seq or data[8:16] != self.token:
            return
        if self.privileged and ident != self.ident:
            return
        if source in self._pending:
            self._answered.add(source)
            if len(self._answered) == len(self._pending) and self._done and not self._done.done():
                self._done.set_result(None)


def normalise_address(address: str) -> str | None:
    """The dotted IPv4 address to ping, resolving a name once; None when there is none."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        try:
            return str(socket.getaddrinfo(address, None, socket.AF_INET)[0][4][0])
        except (OSError, UnicodeError) as exc:
            log.warning("heartbeat: cannot resolve %r (%s); it counts as unanswered", address, exc)
            return None
    if ip.version != 4:
        log.warning("heartbeat: %s is IPv6, which is not probed; it counts as unanswered", ip)
        return None
    return str(ip)


class Heartbeat:
    """Every `interval`, probe all targets at once, feed the tracker, report transitions.

    With `reprobe_suspects` (the default) an engine that just missed is probed again half an
    interval later, so K misses take (K-1)/2 intervals rather than K-1: about 1.9 s instead
    of 3 s from a cut to `down` at the defaults. Loss still has to hit K probes in a row.

    Runs in its own thread with its own asyncio loop. `on_transition` is called (in order, in
    a separate thread so slow callers never delay a round) with each `Transition`.
    `docker_ping(engine_id) -> bool` runs in a thread pool and counts as failed past
    `docker_timeout`; `lease_present(engine_id) -> bool | None` and `on_round(RoundStats)`
    run in the loop and must be cheap.
    """

    def __init__(self, on_transition: Callable[[Transition], None], *, interval: float = 1.0,
                 timeout: float | None = None, k_down: int = 3, m_up: int = 2,
                 docker_ping: Callable[[str], bool] | None = None,
                 docker_timeout: float | None = None, docker_workers: int = 16,
                 lease_present: Callable[[str], bool | None] | None = None,
                 on_round: Callable[[RoundStats], None] | None = None,
                 reprobe_suspects: bool = True, privileged: bool | None = None):
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.interval = interval
        self.reprobe_suspects = reprobe_suspects
        tick = interval / 2 if reprobe_suspects else interval
        self.timeout = min(0.5, tick * 0.8) if timeout is None else timeout
        if not 0 < self.timeout <= tick * 0.8:
            raise ValueError(f"timeout must be in (0, {tick * 0.8:g}] (0.8 x the probe tick of "
                             f"{tick:g}s), got {self.timeout}")
        self.docker_timeout = self.timeout if docker_timeout is None else docker_timeout
        self.on_transition = on_transition
        self.docker_ping = docker_ping
        self.lease_present = lease_present
        self.on_round = on_round
        self.privileged = privileged
        self.tracker = HealthTracker(k_down=k_down, m_up=m_up)
        self.last_round: RoundStats | None = None
        self._targets: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._docker_workers = docker_workers
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()

    def set_targets(self, targets: Mapping[str, str]) -> None:
        """Replace the engines to watch: {engine_id: address}. Takes effect next round."""
        resolved = {engine_id: normalise_address(address) for engine_id, address in targets.items()}
        with self._lock:
            self._targets = resolved

    def status(self, engine_id: str) -> str:
        with self._lock:
            return self.tracker.status(engine_id)

    def statuses(self) -> dict[str, str]:
        with self._lock:
            return self.tracker.statuses()

    def start(self) -> None:
        if self._thread is not None:
            return
        prober = IcmpProber(self.privileged)  # fail here, in the caller, if ICMP is not allowed
        self._thread = threading.Thread(target=self._thread_main, args=(prober,),
                                        name="paasops-heartbeat", daemon=True)
        self._thread.start()
        self._started.wait(5)

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        self._thread, self._loop, self._stop = None, None, None
        self._started.clear()

    def _thread_main(self, prober: IcmpProber) -> None:
        try:
            asyncio.run(self._main(prober))
        except Exception:
            log.exception("heartbeat loop crashed")
        finally:
            prober.close()

    async def _main(self, prober: IcmpProber) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        prober.attach(self._loop)
        docker_pool = ThreadPoolExecutor(self._docker_workers, "paasops-docker-ping")
        events = ThreadPoolExecutor(1, "paasops-heartbeat-events")
        self._in_flight: dict[str, asyncio.Future] = {}
        self._started.set()
        tick = self.interval / 2 if self.reprobe_suspects else self.interval
        next_at, full = self._loop.time(), True
        try:
            while not self._stop.is_set():
                await self._round(prober, docker_pool, events, full)
                next_at += tick
                full = not full or not self.reprobe_suspects
                late = self._loop.time() - next_at
                if late > 0:
                    log.warning("heartbeat round overran its %.2fs tick by %.2fs", tick, late)
                    next_at = self._loop.time()
                try:
                    await asyncio.wait_for(self._stop.wait(), max(0.0, next_at - self._loop.time()))
                except TimeoutError:
                    pass
        finally:
            docker_pool.shutdown(wait=False, cancel_futures=True)
            events.shutdown(wait=True)

    async def _round(self, prober: IcmpProber, docker_pool, events, full: bool = True) -> None:
        """A full round probes every target; the others only suspects (missed, not yet down)."""
        with self._lock:
            targets = self._targets
            for gone in set(self.tracker.statuses()) - set(targets):
                self.tracker.forget(gone)
            if not full:
                targets = {e: a for e, a in targets.items() if self._suspect(e)}
                if not targets:
                    return
            # suspects get a Docker ping on their re-probe too: a live API vouches for a lost echo
            docker_ids = [e for e in targets if self._wants_docker_ping(e)]
        started = asyncio.get_running_loop().time()
        docker = self._start_docker_pings(docker_ids, docker_pool)
        answered, stats = await prober.probe({a for a in targets.values() if a}, self.timeout)
        api = await self._docker_results(docker, started + self.docker_timeout)
        signals = {
            engine_id: Signals(address in answered, api.get(engine_id),
                               self.lease_present(engine_id) if self.lease_present else None)
            for engine_id, address in targets.items()}
        with self._lock:
            transitions = self.tracker.round(signals)
        if full:
            self.last_round = stats
            if self.on_round is not None:
                self.on_round(stats)
        for transition in transitions:
            log.info("engine %s: %s -> %s (%s)", *transition)
            events.submit(self._notify, transition)

    def _suspect(self, engine_id: str) -> bool:
        health = self.tracker.health(engine_id)
        return health.icmp_miss > 0 and health.status != DOWN

    def _wants_docker_ping(self, engine_id: str) -> bool:
        # A down host is pinged again once it answers ICMP, so it can return as degraded.
        if self.docker_ping is None:
            return False
        health = self.tracker.health(engine_id)
        return health.status != DOWN or health.icmp_ok > 0

    def _start_docker_pings(self, engine_ids, pool) -> dict[str, asyncio.Future]:
        futures = {}
        for engine_id in engine_ids:
            future = self._in_flight.get(engine_id)
            if future is None:  # one ping per engine at a time: a hung one is not doubled
                future = asyncio.get_running_loop().run_in_executor(pool, self._safe_docker_ping, engine_id)
                self._in_flight[engine_id] = future
                future.add_done_callback(functools.partial(self._landed, engine_id))
            futures[engine_id] = future
        return futures

    def _landed(self, engine_id: str, _future: asyncio.Future) -> None:
        self._in_flight.pop(engine_id, None)

    def _safe_docker_ping(self, engine_id: str) -> bool:
        if self.docker_ping is None:
            return False
        try:
            return bool(self.docker_ping(engine_id))
        except Exception as exc:
            log.debug("docker ping of %s failed: %s", engine_id, exc)
            return False

    async def _docker_results(self, futures: dict[str, asyncio.Future],
                              deadline: float) -> dict[str, bool]:
        pending = [f for f in futures.values() if not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
        return {e: f.done() and not f.cancelled() and f.result() for e, f in futures.items()}

    def _notify(self, transition: Transition) -> None:
        try:
            self.on_transition(transition)
        except Exception:
            log.exception("on_transition failed for %s", transition)
