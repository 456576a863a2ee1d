"""The lab's HTTP load generator: its pure parts, and one short load against a loopback http.server."""

from __future__ import annotations

import http.server
import math
import threading
import time

import pytest

from paasops.errors import UserInputError
from paasops.lab.http_load import (
    HttpLoad,
    Sample,
    Window,
    allowed_address,
    build_report,
    check_limits,
    failure_reason,
    failure_windows,
    percentile,
)


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50, 5),   # rank ceil(0.5 * 10) = 5
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90, 9),   # rank ceil(0.9 * 10) = 9
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99, 10),  # rank ceil(0.99 * 10) = 10
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 100, 10),
    ([7.5], 50, 7.5),
    ([1, 2], 1, 1),  # rank ceil(0.02) = 1, never 0
    (list(range(1, 1001)), 99, 990),  # rank ceil(0.99 * 1000) = 990
])
def test_percentile_is_nearest_rank(values, q, expected):
    assert percentile(values, q) == expected


def test_percentile_of_nothing_is_nan():
    assert math.isnan(percentile([], 50))


def test_failure_windows_group_failures_with_no_success_between():
    outcomes = [(0.0, True), (0.1, False), (0.2, False), (0.3, True), (0.4, False), (0.5, True),
                (0.6, False), (0.7, False), (0.8, False)]
    assert failure_windows(outcomes) == [Window(0.1, 0.2, 2), Window(0.4, 0.4, 1), Window(0.6, 0.8, 3)]


def test_failure_windows_sort_by_start_first():
    # workers record out of order: a success started at 0.15 splits the failures at 0.1 and 0.2
    assert failure_windows([(0.2, False), (0.1, False), (0.15, True)]) == [Window(0.1, 0.1, 1), Window(0.2, 0.2, 1)]
    assert failure_windows([(0.0, True), (1.0, True)]) == []


@pytest.mark.parametrize(("kwargs", "word"), [
    ({"duration": 0}, "duration"),
    ({"duration": 601}, "duration"),
    ({"duration": 10, "rate": 2001}, "rate"),
    ({"duration": 10, "rate": 0}, "rate"),
    ({"duration": 10, "workers": 0}, "workers"),
    ({"duration": 10, "workers": 257}, "workers"),
    ({"duration": 10, "timeout": 31}, "timeout"),
])
def test_limits_refuse_an_unbounded_load(kwargs, word):
    with pytest.raises(UserInputError, match=word):
        check_limits(**kwargs)


def test_limits_accept_the_largest_load():
    check_limits(duration=600, rate=2000, workers=256, timeout=30)


@pytest.mark.parametrize(("address", "allowed"), [
    ("127.0.0.1", True), ("::1", True), ("172.18.0.5", True), ("10.1.2.3", True), ("192.168.1.1", True),
    ("8.8.8.8", False), ("1.1.1.1", False), ("0.0.0.0", False), ("169.254.169.254", False), ("2001:4860::1", False),
])
def test_only_loopback_and_private_addresses_get_load(address, allowed):
    assert allowed_address(address) is allowed


def test_a_public_target_or_a_bad_url_is_refused_before_any_request():
    with pytest.raises(UserInputError, match="loopback or private"):
        HttpLoad("http://8.8.8.8/", duration=1, rate=1)
    with pytest.raises(UserInputError, match="http:// or https://"):
        HttpLoad("ftp://127.0.0.1/", duration=1, rate=1)
    with pytest.raises(UserInputError, match="exactly one"):
        HttpLoad("http://127.0.0.1/", duration=1, rate=1, concurrency=2)


def test_failure_reasons_are_short_words():
    import http.client

    assert failure_reason(ConnectionRefusedError()) == "refused"
    assert failure_reason(ConnectionResetError()) == "reset"
    assert failure_reason(http.client.RemoteDisconnected()) == "closed"
    assert failure_reason(TimeoutError()) == "timeout"


def test_report_counts_replicas_failures_and_latency():
    samples = [Sample(0.00, 1.0, 200, "a", None), Sample(0.01, 2.0, 200, "b", None),
               Sample(0.02, 50.0, 0, None, "refused"), Sample(0.03, 3.0, 503, "b", "http 503"),
               Sample(0.04, 4.0, 200, "a", None), Sample(0.05, 5.0, 200, "b", None)]
    report = build_report(list(reversed(samples)), mode="open", url="http://127.0.0.1/", host=None, workers=2,
                          rate=100, duration=1, elapsed=0.06, retried=1, max_lag=0.002, started_at=0)
    assert (report.total, report.ok, report.failed, report.retried) == (6, 4, 2, 1)
    assert report.per_replica() == {"a": 2, "b": 2}  # the 503 from b is not an answer from it
    assert (report.replicas["b"].first, report.replicas["b"].last) == (0.01, 0.05)
    assert (report.replicas["b"].first_done, report.replicas["b"].last_done) == pytest.approx((0.012, 0.055))  # + latency
    assert report.failures == [(0.02, "refused"), (0.03, "http 503")]
    assert report.windows == [Window(0.02, 0.03, 2)]
    assert (report.p50_ms, report.p99_ms, report.max_ms) == (2.0, 5.0, 5.0)  # over the 4 answers: 1 2 4 5
    assert report.requests_per_s == pytest.approx(100)
    assert "2 failed" in report.summary() and "http 503 x1" in report.summary()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the load generator expects
    fail_from = math.inf  # seconds after the server started: answer 503 from then on
    connections: set[int] = set()  # the client ports seen

    def do_GET(self):
        _Handler.connections.add(self.client_address[1])
        failing = time.monotonic() - self.server.started >= self.fail_from  # type: ignore[attr-defined]
        body = f"{self.headers['Host']}\nrest\n".encode()
        self.send_response(503 if failing else 200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Replica", "r1")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.started = time.monotonic()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_open_loop_against_a_loopback_server(server):
    _Handler.fail_from = 0.5
    try:
        load = HttpLoad(f"http://127.0.0.1:{server.server_address[1]}/id", duration=1.0, rate=100,
                        host="bench.example.test", timeout=1)
        started = time.monotonic()
        report = load.start().report()  # in the background: the report so far, while it runs
        assert load.running and report.total < 100
        assert load.wait(5)
        report = load.report()
    finally:
        _Handler.fail_from = math.inf
    assert time.monotonic() - started < 3  # it stopped by itself at its deadline
    assert 95 <= report.total <= 100  # 100/s for 1 s, each request at its slot
    assert report.ok + report.failed == report.total and report.ok >= 40 and report.failed >= 40
    assert set(report.per_replica()) == {"bench.example.test"}  # the body's first line: the Host header sent
    assert {reason for _, reason in report.failures} == {"http 503"}
    # all after 0.5 s, in one run (two if the server's threads swapped the order of two requests at the edge)
    assert len(report.windows) <= 2 and sum(w.count for w in report.windows) == report.failed
    assert 0.4 <= report.windows[0].first <= 0.6
    assert report.max_lag_ms < 200


def test_closed_loop_stops_early_and_reads_a_header(server):
    load = HttpLoad(f"http://127.0.0.1:{server.server_address[1]}/", duration=30, concurrency=4,
                    replica_header="X-Replica").start()
    time.sleep(0.3)
    load.stop()
    report = load.report()
    assert not load.running and report.elapsed_s < 2
    assert report.failed == 0 and report.total > 10
    assert report.per_replica() == {"r1": report.total}
    assert 0 < report.p50_ms <= report.p90_ms <= report.p99_ms <= report.max_ms


def test_without_keep_alive_each_request_has_its_own_connection(server):
    _Handler.connections = set()
    report = HttpLoad(f"http://127.0.0.1:{server.server_address[1]}/", duration=0.3, concurrency=2,
                      keep_alive=False).run()
    assert report.failed == 0 and report.total > 5
    assert len(_Handler.connections) == report.total  # one client port per request


def test_refused_connections_are_failures_not_errors():
    import socket

    with socket.socket() as s:  # a port that was free a moment ago and has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    report = HttpLoad(f"http://127.0.0.1:{port}/", duration=0.2, concurrency=1, timeout=1).run()
    assert report.total > 0 and report.failed == report.total
    assert {reason for _, reason in report.failures} == {"refused"}


def test_https_checks_the_certificate_for_the_host_header(tmp_path):
    import ssl

    from paasops.pki import ensure_ca, issue_server_cert

    ca = ensure_ca(tmp_path)
    cert, key = issue_server_cert(ca, "bench.example.test", [], ["bench.example.test"])
    (tmp_path / "server.pem").write_bytes(cert + key)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "server.pem")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.started = time.monotonic()  # type: ignore[attr-defined]
    httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"https://127.0.0.1:{httpd.server_address[1]}/"
        trust = ssl.create_default_context(cafile=str(ca.path))
        good = HttpLoad(url, duration=0.3, concurrency=1, host="bench.example.test", ssl_context=trust).run()
        assert good.failed == 0 and good.per_replica() == {"bench.example.test": good.total}
        # no Host header: SNI and the check are for 127.0.0.1, which the certificate does not name
        bad = HttpLoad(url, duration=0.2, concurrency=1, ssl_context=trust).run()
        assert bad.total > 0 and bad.failed == bad.total
        assert all(reason.startswith("tls: ") for _, reason in bad.failures)
    finally:
        httpd.shutdown()
        httpd.server_close()
