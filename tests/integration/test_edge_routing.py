"""Issue 11's acceptance on the lab, end to end: `paasops serve` publishes the routes of an exposed app,
the agents' HAProxy on every lab host serve them. Any edge answers from replicas on every host; a constant
load through one edge sees no failed request across a rolling update, a scale 6 -> 2 -> 6 and a drain; a
replica killed behind paasops' back fails at most its in-flight requests; a cut host's failures stop within
the heartbeat time; HTTPS with a cluster-CA certificate verifies with `curl --cacert`."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from lab_support import lab_exec, paasops
from test_drain import engines  # noqa: F401  (a Docker client of each lab engine, straight to its API)
from test_service_lab import _wait, service  # noqa: F401  (the module's `paasops serve` on the lab)

from paasops.lab.http_load import HttpLoad, LoadReport

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
APP, HOSTNAME = "hello", "hello.example.test"
COUNT = 6
RATE = 100  # requests/s through one edge (bounded: each load stops by itself after LOAD_LIMIT)
LOAD_LIMIT = 120.0
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an env proxy


def app_yml(greeting: str) -> str:
    """examples/app.yml (with its `expose`), each replica's page naming its container, a health check,
    spread over the three hosts and a two-at-a-time start-first update."""
    text = (ROOT / "examples" / "app.yml").read_text()
    assert f"hostnames: [{HOSTNAME}]" in text  # the example is what the acceptance deploys
    text = re.sub(r"^command: .*$", 'command: ["sh", "-c", "echo $HOSTNAME > /www/id; exec httpd -f -p 8080 -h /www"]',
                  text, flags=re.M)
    text = re.sub(r"^  GREETING: .*$", f"  GREETING: {greeting}", text, flags=re.M)
    text = re.sub(r"^cpus: .*$", "cpus: 0.1", text, flags=re.M)
    text = re.sub(r"^memory: .*$", "memory: 32m", text, flags=re.M)
    text = re.sub(r"^strategy: .*$", "strategy: spread", text, flags=re.M)
    text = re.sub(r"^count: .*$", f"count: {COUNT}", text, flags=re.M)  # a redeploy without --count keeps 6
    return text + ("health: {http: /id, interval: 1s, timeout: 1s, retries: 2}\n"
                   "update: {parallelism: 2, order: start-first, monitor: 1s}\n")


def fetch(address: str, path: str = "/id") -> tuple[int, str]:
    request = urllib.request.Request(f"http://{address}{path}", headers={"Host": HOSTNAME})
    try:
        with DIRECT.open(request, timeout=5) as reply:
            return reply.status, reply.read().decode().strip()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError as exc:
        return 0, str(exc)


def where(engines) -> dict[str, str]:  # noqa: F811
    """Container hostname (its 12-char id) -> the lab engine running it, as the engines list them."""
    return {c["Id"][:12]: name for name, client in engines.items()
            for c in client.api.containers(filters={"label": f"paasops.app={APP}"})}


def healthy(engines) -> int:  # noqa: F811
    return sum(1 for client in engines.values()
               for c in client.api.containers(filters={"label": f"paasops.app={APP}"}) if "(healthy)" in c["Status"])


def edges_current(api) -> bool:
    """The route has COUNT ready backends and every edge has applied its last change."""
    [route] = [r for r in api.routes() if r.app == APP] or [None]
    return bool(route and len([b for b in route.backends if b.state == "ready"]) == COUNT
                and len(route.edges) == 3 and all(e.current and not e.error for e in route.edges))


def run(env: dict, *args: str) -> str:
    done = paasops(*args, env=env)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


def load(edge: str) -> HttpLoad:
    return HttpLoad(f"http://{edge}/id", duration=LOAD_LIMIT, rate=RATE, host=HOSTNAME, timeout=5).start()


def ended(name: str, running: HttpLoad) -> LoadReport:
    running.stop()
    report = running.report()
    print(f"\n{name}: {report.summary()}")
    assert report.total >= RATE  # the load really ran (a second at least)
    return report


@pytest.fixture(scope="module")
def exposed(service, engines, tmp_path_factory):  # noqa: F811
    api, env, lab = service
    spec = tmp_path_factory.mktemp("routing") / "hello.yml"
    spec.write_text(app_yml("one"))
    run(env, "deploy", str(spec))
    assert _wait(lambda: healthy(engines) == COUNT, 60, step=0.2) is not None
    took = _wait(lambda: edges_current(api), 30, step=0.1)
    assert took is not None, [r.model_dump() for r in api.routes()]
    edges = {h.name: h.address for h in lab.hosts()}
    yield api, env, lab, spec, edges
    run(env, "apps", "rm", APP)
    assert _wait(lambda: all(fetch(a)[0] == 503 for a in edges.values()), 10, step=0.2) is not None


def test_any_edge_answers_from_replicas_on_every_host(exposed, engines):  # noqa: F811
    api, env, _, _, edges = exposed
    on = where(engines)
    assert set(on.values()) == set(edges), on  # spread: replicas on every host
    for name, address in edges.items():
        answers = Counter(fetch(address) for _ in range(4 * COUNT))
        assert {status for status, _ in answers} == {200}, (name, answers)
        hosts = {on[body] for _, body in answers}
        assert hosts == set(edges), f"edge {name} reached replicas on {sorted(hosts)} only"
    [app] = json.loads(run(env, "apps", "-o", "json"))
    assert app["urls"] == [f"http://{HOSTNAME}/"]
    assert f"http://{HOSTNAME}/" in run(env, "apps", "inspect", APP)
    routes = run(env, "routes")
    assert HOSTNAME in routes and all(name in routes for name in edges)


def test_no_request_fails_through_an_update_a_scale_and_a_drain(exposed, engines):  # noqa: F811
    api, env, lab, spec, edges = exposed
    edge = edges["lab1"]

    before = set(where(engines))
    running = load(edge)
    spec.write_text(app_yml("two"))
    run(env, "deploy", str(spec))
    assert _wait(lambda: healthy(engines) == COUNT and not set(where(engines)) & before, 60, step=0.2) is not None
    assert _wait(lambda: edges_current(api), 10, step=0.1) is not None
    report = ended("rolling update of 6", running)
    assert report.failed == 0
    assert set(report.replicas) & before and set(report.replicas) - before  # served by old, then new replicas

    running = load(edge)
    run(env, "scale", APP, "2")
    assert _wait(lambda: len(where(engines)) == 2, 30, step=0.2) is not None
    time.sleep(1)  # a second of load on the two left
    run(env, "scale", APP, str(COUNT))
    assert _wait(lambda: healthy(engines) == COUNT, 60, step=0.2) is not None
    assert _wait(lambda: edges_current(api), 10, step=0.1) is not None
    report = ended("scale 6 -> 2 -> 6", running)
    assert report.failed == 0

    host = "lab2"  # lab3 keeps its replicas for the cut below
    running = load(edge)
    run(env, "hosts", "drain", host)
    assert host not in where(engines).values() and healthy(engines) == COUNT
    assert _wait(lambda: edges_current(api), 10, step=0.1) is not None
    report = ended(f"drain of {host}", running)
    assert report.failed == 0
    run(env, "hosts", "undrain", host)


def test_a_killed_replica_fails_at_most_its_requests_in_flight(exposed, engines):  # noqa: F811
    api, _, _, _, edges = exposed
    victim, engine = sorted(where(engines).items())[0]
    running = load(edges["lab1"])
    time.sleep(2)
    killed_at = time.monotonic() - running.started_at
    engines[engine].api.kill(victim)
    assert _wait(lambda: healthy(engines) == COUNT and victim not in where(engines), 30, step=0.2) is not None
    assert _wait(lambda: edges_current(api), 10, step=0.1) is not None
    report = ended(f"docker kill of {victim} on {engine} at {killed_at:.2f} s", running)
    print(f"failed requests (in flight to the killed replica): {report.failed}")
    assert report.failed <= 3, report.failures
    assert all(killed_at - 1 <= offset <= killed_at + 1 for offset, _ in report.failures), report.failures


def test_https_with_a_cluster_ca_certificate_verifies_with_curl(exposed, pki_dir):
    _, env, _, _, edges = exposed
    run(env, "certs", "issue", HOSTNAME)

    def verified(address: str) -> bool:
        done = subprocess.run(["curl", "-sS", "--noproxy", "*", "--max-time", "5", "--cacert", str(pki_dir / "ca.pem"),
                               "--resolve", f"{HOSTNAME}:443:{address}", f"https://{HOSTNAME}/id"],
                              capture_output=True, text=True)
        return done.returncode == 0 and len(done.stdout.strip()) == 12
    for name, address in edges.items():
        assert _wait(lambda a=address: verified(a), 15, step=0.2) is not None, f"https on edge {name}"
    plain = subprocess.run(["curl", "-sS", "--noproxy", "*", "--max-time", "5", "--resolve",
                            f"{HOSTNAME}:443:{edges['lab1']}", f"https://{HOSTNAME}/id"], capture_output=True, text=True)
    assert plain.returncode != 0  # not trusted without the cluster CA: the check is real
    run(env, "certs", "rm", HOSTNAME)


def test_a_cut_hosts_failures_stop_within_the_heartbeat_time(exposed, engines):  # noqa: F811
    api, _, lab, _, edges = exposed
    cut = "lab3"
    assert cut in where(engines).values()
    gateway = lab_exec(lab, cut, "ip -4 route show default").stdout.split()[2]
    running = load(edges["lab1"])
    time.sleep(2)
    cut_at = time.monotonic() - running.started_at
    lab_exec(lab, cut, "ip link set eth0 down")
    try:
        assert _wait(lambda: api.engine(cut).status in ("suspect", "down"), 10, step=0.1) is not None
        time.sleep(8)
    finally:
        lab_exec(lab, cut, f"ip link set eth0 up && ip route replace default via {gateway}")
    report = ended(f"{cut} cut at {cut_at:.2f} s", running)
    last = max((offset for offset, _ in report.failures), default=cut_at)
    slow = [s.offset for s in running.samples() if s.error is None and s.latency_ms > 1000]
    print(f"{cut} cut: {report.failed} failed requests, the last {last - cut_at:.2f} s after the cut; "
          f"{len(slow)} answered after more than 1 s (HAProxy's connect timeout, then another replica)"
          + (f", sent {min(slow) - cut_at:.2f}-{max(slow) - cut_at:.2f} s after the cut" if slow else ""))
    assert last - cut_at <= 5.0  # heartbeat (~2 s) + route withdrawn and applied + HAProxy's own checks
    assert report.ok > 0.9 * report.total
    assert _wait(lambda: api.engine(cut).status == "up", 60, step=0.2) is not None
    assert _wait(lambda: edges_current(api), 15, step=0.1) is not None
