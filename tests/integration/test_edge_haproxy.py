"""The edge on the bootstrapped lab: HAProxy on every host, driven by the agent from routes put into
the lab etcd by hand (as the service would): served from any edge, servers added and drained through
the runtime API without a reload, acks, a TCP route, and the time from a put to a served request."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from lab_support import etcd_call, lab_exec, paasops

from paasops import pki
from paasops.engines.client import make_client
from paasops.lab.hello_image import ensure_hello_image

pytestmark = pytest.mark.integration
ROOT_AGENT = Path(__file__).resolve().parents[2] / "bin" / "paasops-register"

APP, TCP_APP = "edgehello", "edgetcp"
HOSTNAME = "x.example.test"
TCP_PORT = 15480
ROUTES, EDGES, CERTS = "/paasops/routes/", "/paasops/edges/", "/paasops/edge-certs/"
# a page naming the container, so the test sees which replica answered
SERVE_ID = "echo $HOSTNAME > /www/id; exec httpd -f -p 8080 -h /www"
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an env proxy


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def fetch(address: str, port: int = 80, host: str = HOSTNAME, path: str = "/id") -> tuple[int, str]:
    request = urllib.request.Request(f"http://{address}:{port}{path}", headers={"Host": host})
    try:
        with DIRECT.open(request, timeout=3) as reply:
            return reply.status, reply.read().decode().strip()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode().strip()
    except OSError as exc:
        return 0, str(exc)


def wait_until(predicate, timeout: float, what: str):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        result = predicate()
        if result:
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout}s: {what}")


def converge(edges: list[str], serving, timeout: float, what: str) -> dict[str, float]:
    """Seconds from now until each edge first passes serving(address); polled round the edges."""
    start, seen = time.monotonic(), {}
    while len(seen) < len(edges):
        assert time.monotonic() - start < timeout, f"not within {timeout}s: {what} (only {sorted(seen)})"
        for a in edges:
            if a not in seen and serving(a):
                seen[a] = time.monotonic() - start
        time.sleep(0.01)
    return seen


def unix_ask(lab, host: str, socket_path: str, command: str) -> str:
    """One command on a HAProxy CLI socket of a lab host (python3 there: no socat on the hosts)."""
    script = (f"import socket, sys; s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect('{socket_path}'); "
              f"s.sendall(b'{command}\\n'); s.shutdown(socket.SHUT_WR); sys.stdout.write(s.makefile().read())")
    done = lab_exec(lab, host, f'python3 -c "{script}"')
    assert done.returncode == 0, done.stderr
    return done.stdout


def show_info(lab, host: str) -> dict[str, str]:
    """HAProxy's `show info` on a lab host's admin socket (its worker's Pid and Uptime)."""
    out = unix_ask(lab, host, "/run/haproxy/admin.sock", "show info")
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


def reloads(lab, host: str) -> int:
    """How often HAProxy's master on `host` has reloaded (the master CLI Debian's unit opens); a failed
    reload would be counted too, and fails the test."""
    master = next(line for line in unix_ask(lab, host, "/run/haproxy-master.sock", "show proc").splitlines()
                  if " master " in f" {line} ")
    assert "[failed: 0]" in master, master
    return int(master.split()[2])


@pytest.fixture(scope="module")
def lab_etcd(lab, bootstrapped):
    endpoint = lab.etcd_endpoint()

    def put(key: str, value: dict | None) -> int:
        if value is None:
            answer = etcd_call(endpoint, lab.pki_dir, "/kv/deleterange", {"key": b64(key)})
        else:
            answer = etcd_call(endpoint, lab.pki_dir, "/kv/put", {"key": b64(key), "value": b64(json.dumps(value))})
        return int(answer["header"]["revision"])

    def get(key: str) -> dict | None:
        kvs = etcd_call(endpoint, lab.pki_dir, "/kv/range", {"key": b64(key)}).get("kvs") or []
        return {**json.loads(base64.b64decode(kvs[0]["value"])), "_lease": kvs[0].get("lease")} if kvs else None

    put.get = get  # type: ignore[attr-defined]
    yield put
    put(ROUTES + APP, None)
    put(ROUTES + TCP_APP, None)
    put(CERTS + HOSTNAME, None)


@pytest.fixture(scope="module")
def replicas(lab, bootstrapped, pki_dir):
    """One hello container on lab1 and one on lab2, each on an ephemeral host port:
    {name: (container id[:12], host address, host port, page)}."""
    hosts = {h.name: h for h in lab.hosts()}
    made, out = [], {}
    for name in ("lab1", "lab2"):
        client = make_client(hosts[name].address, 2376, pki_dir=pki_dir, timeout=60)
        ensure_hello_image(client)
        c = client.containers.run("paasops/hello:latest", ["sh", "-c", SERVE_ID], detach=True,
                                  name=f"edge-test-{name}", ports={"8080/tcp": None}, remove=False)
        made.append(c)
        c.reload()
        port = int(c.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"])
        out[name] = (c.id[:12], hosts[name].address, port, c.id[:12])  # busybox: $HOSTNAME = short id
    for _, address, port, page in out.values():
        wait_until(lambda a=address, p=port, pg=page: fetch(a, p) == (200, pg), 10, "the replica answering")
    yield out
    for c in made:
        c.remove(force=True)


def http_route(*backends: tuple[str, str, int, str, str]) -> dict:
    return {"app": APP, "mode": "http", "hostnames": [HOSTNAME], "path": "/", "https_redirect": False,
            "tcp_port": None,
            "backends": [{"id": i, "name": f"{APP}-{n}", "address": a, "port": p, "state": s}
                         for n, (i, a, p, _, s) in enumerate(backends, 1)]}


def test_edges_route_add_drain_ack_and_tcp(lab, lab_etcd, replicas):
    edges = [h.address for h in lab.hosts()]
    names = [h.name for h in lab.hosts()]
    one, two = replicas["lab1"], replicas["lab2"]
    assert all(fetch(a)[0] == 503 for a in edges)  # no route yet: every edge answers 503

    # a new app: a structural change (config validated + seamless reload), on every edge
    revision = lab_etcd(ROUTES + APP, http_route((*one, "ready")))
    first = converge(edges, lambda a: fetch(a) == (200, one[3]), 10, "every edge serving the new route")
    print("\nroute convergence, new app (config + seamless reload): put -> served "
          + ", ".join(f"{a} {t:.3f}s" for a, t in first.items()))
    acks = {n: wait_until(lambda n=n: (lab_etcd.get(EDGES + n) or {}).get("revision", 0) >= revision, 5,
                          f"{n}'s ack") for n in names}
    ack = lab_etcd.get(EDGES + names[0])
    assert ack["engine"] == names[0] and ack["error"] is None and (ack["http_port"], ack["https_port"]) == (80, 443)
    assert ack["servers"] == {f"{APP}/{one[0]}": "ready"} and ack["_lease"]  # under the agent's lease
    assert ack["applied_at"].endswith("+00:00")
    print(f"acks at revision >= {revision}: " + ", ".join(f"{n} {t:.3f}s" for n, t in acks.items()))

    # a second backend: the runtime API, no reload, served within a second
    before = {n: (show_info(lab, n)["Pid"], reloads(lab, n)) for n in names}
    revision = lab_etcd(ROUTES + APP, http_route((*one, "ready"), (*two, "ready")))
    added = converge(edges, lambda a: two[3] in {fetch(a)[1] for _ in range(2)}, 3, "the second backend served")
    print("route convergence, added backend (runtime API): put -> served "
          + ", ".join(f"{a} {t:.3f}s" for a, t in added.items()))
    assert max(added.values()) <= 1.0
    for a in edges:
        assert {fetch(a)[1] for _ in range(6)} == {one[3], two[3]}  # round robin over both, from any edge
    wait_until(lambda: all((lab_etcd.get(EDGES + n) or {}).get("revision", 0) >= revision for n in names), 5, "acks")
    assert {n: (show_info(lab, n)["Pid"], reloads(lab, n)) for n in names} == before  # the same worker: no reload

    # drain: no new request reaches it (and still no reload)
    start = time.monotonic()
    revision = lab_etcd(ROUTES + APP, http_route((*one, "ready"), (*two, "drain")))
    wait_until(lambda: all((lab_etcd.get(EDGES + n) or {}).get("revision", 0) >= revision for n in names), 5,
               "acks of the drain")
    drained = time.monotonic() - start
    assert lab_etcd.get(EDGES + names[1])["servers"] == {f"{APP}/{one[0]}": "ready", f"{APP}/{two[0]}": "drain"}
    for a in edges:
        assert {fetch(a)[1] for _ in range(10)} == {one[3]}
    assert {n: (show_info(lab, n)["Pid"], reloads(lab, n)) for n in names} == before
    print(f"drain acked by every edge {drained:.3f}s after the put")

    # the backend leaves: a request is never sent to it again; the route goes: 503
    lab_etcd(ROUTES + APP, http_route((*one, "ready")))
    time.sleep(0.5)
    assert all({fetch(a)[1] for _ in range(4)} == {one[3]} for a in edges)

    # a TCP route (a new listen: reload) to the replica on lab2, through every edge
    lab_etcd(ROUTES + TCP_APP, {"app": TCP_APP, "mode": "tcp", "hostnames": [], "path": None,
                                "https_redirect": False, "tcp_port": TCP_PORT,
                                "backends": [{"id": two[0], "name": f"{TCP_APP}-1", "address": two[1],
                                              "port": two[2], "state": "ready"}]})
    tcp = converge(edges, lambda a: fetch(a, TCP_PORT, host="anything") == (200, two[3]), 10, "the tcp route")
    print("tcp route (new listen: reload): put -> served " + ", ".join(f"{a} {t:.3f}s" for a, t in tcp.items()))

    lab_etcd(ROUTES + APP, None)
    for a in edges:
        wait_until(lambda a=a: fetch(a)[0] == 503, 5, f"{a} forgetting the deleted route")
    print(lab_exec(lab, names[0], "journalctl -u paasops-register --no-pager -o short-precise | grep revision").stdout)
    config = lab_exec(lab, names[0], "cat /etc/haproxy/haproxy.cfg").stdout
    assert f"listen app_{TCP_APP}" in config and f"app_{APP}" not in config  # the file on disk is current


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--max-time", "3", "--noproxy", "*", *args], capture_output=True,
                          text=True, timeout=10)


def test_https_with_a_cluster_ca_certificate_and_the_redirect(lab, lab_etcd, replicas, pki_dir, tmp_path):
    edges = [h.address for h in lab.hosts()]
    names = [h.name for h in lab.hosts()]
    one = replicas["lab1"]
    ca = pki.ensure_ca(pki_dir)
    cert_pem, key_pem = pki.issue_server_cert(ca, HOSTNAME, [], [HOSTNAME])
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    route = http_route((*one, "ready"))
    lab_etcd(ROUTES + APP, {**route, "https_redirect": True})
    revision = lab_etcd(CERTS + HOSTNAME, {"hostname": HOSTNAME, "pem": (cert_pem + key_pem).decode(),
                                           "fingerprint": hashlib.sha256(cert_pem).hexdigest()})

    def https_ok(address: str) -> bool:
        done = curl("--cacert", str(tmp_path / "ca.pem"), "--resolve", f"{HOSTNAME}:443:{address}",
                    f"https://{HOSTNAME}/id")
        return done.returncode == 0 and done.stdout.strip() == one[3]

    served = converge(edges, https_ok, 10, "HTTPS verified against the cluster CA on every edge")
    print("\nHTTPS (new cert: reload) served and verified by curl --cacert: "
          + ", ".join(f"{a} {t:.3f}s" for a, t in served.items()))
    wait_until(lambda: all((lab_etcd.get(EDGES + n) or {}).get("revision", 0) >= revision for n in names), 5, "acks")
    assert all(lab_etcd.get(EDGES + n)["error"] is None for n in names)
    redirect = curl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H", f"Host: {HOSTNAME}",
                    f"http://{edges[0]}/id")
    assert redirect.stdout == f"301 https://{HOSTNAME}/id"
    assert lab_exec(lab, names[0], "stat -c '%a %U' /etc/haproxy/paasops-certs "
                                   f"/etc/haproxy/paasops-certs/{HOSTNAME}.pem").stdout.split("\n")[:2] == [
        "700 root", "600 root"]
    journal = lab_exec(lab, names[0], "journalctl -u paasops-register --no-pager -o cat").stdout
    assert "PRIVATE KEY" not in journal and key_pem.decode().splitlines()[1] not in journal

    # the certificate goes: no HTTPS frontend any more, and no redirect to it
    lab_etcd(CERTS + HOSTNAME, None)
    wait_until(lambda: all(curl("-o", "/dev/null", "-w", "%{http_code}", "-H", f"Host: {HOSTNAME}",
                                f"http://{a}/id").stdout == "200" for a in edges), 10, "no redirect without a cert")
    assert lab_exec(lab, names[0], f"test -e /etc/haproxy/paasops-certs/{HOSTNAME}.pem").returncode != 0
    assert curl("--cacert", str(tmp_path / "ca.pem"), "--resolve", f"{HOSTNAME}:443:{edges[0]}",
                f"https://{HOSTNAME}/id").returncode != 0


def test_restarts_keep_the_routes(lab, lab_etcd, replicas):
    """HAProxy restarted: it serves the routes from its file on disk. The agent restarted: it trusts
    the running config (no reload) and puts its ack back under its new lease."""
    edges = {h.name: h.address for h in lab.hosts()}
    one = replicas["lab1"]
    revision = lab_etcd(ROUTES + APP, http_route((*one, "ready")))
    converge(list(edges.values()), lambda a: fetch(a) == (200, one[3]), 10, "the route served")
    wait_until(lambda: (lab_etcd.get(EDGES + "lab1") or {}).get("revision", 0) >= revision, 5, "lab1's ack")
    old_lease, reloaded = lab_etcd.get(EDGES + "lab1")["_lease"], reloads(lab, "lab1")
    assert lab_exec(lab, "lab1", "systemctl restart paasops-register").returncode == 0
    wait_until(lambda: (lab_etcd.get(EDGES + "lab1") or {}).get("_lease") not in (None, old_lease), 10,
               "the ack under the agent's new lease")
    assert reloads(lab, "lab1") == reloaded and fetch(edges["lab1"]) == (200, one[3])
    assert lab_exec(lab, "lab2", "systemctl restart haproxy").returncode == 0
    wait_until(lambda: fetch(edges["lab2"]) == (200, one[3]), 10, "lab2 serving after a restart of HAProxy")


def test_a_host_taken_out_of_the_edge_stops_serving_and_comes_back(lab, lab_etcd, replicas, cli_env, tmp_path):
    """bootstrap with paasops_edge=false on lab3: its HAProxy stopped, no ack, no edge checks in verify;
    bootstrap as before: it serves the routes again."""
    one, lab3 = replicas["lab1"], next(h for h in lab.hosts() if h.name == "lab3")
    lab_etcd(ROUTES + APP, http_route((*one, "ready")))
    wait_until(lambda: fetch(lab3.address) == (200, one[3]), 10, "lab3 serving")
    inventory = tmp_path / "no-edge.ini"
    inventory.write_text(lab.inventory_path.read_text().replace("\nlab3 ", "\nlab3 paasops_edge=false "))
    done = paasops("bootstrap", "-i", str(inventory), "lab3", "-o", "json", env=cli_env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not any("edge" in c["name"] for c in json.loads(done.stdout)["verify"]["lab3"])
    assert lab_exec(lab, "lab3", "systemctl is-active haproxy").stdout.strip() != "active"
    assert fetch(lab3.address)[0] == 0  # nothing listens on 80 any more
    assert lab_etcd.get(EDGES + "lab3") is None
    done = paasops("bootstrap", "-i", str(lab.inventory_path), "lab3", "-o", "json", env=cli_env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [c["ok"] for c in json.loads(done.stdout)["verify"]["lab3"] if "edge" in c["name"]] == [True, True]
    wait_until(lambda: fetch(lab3.address) == (200, one[3]), 10, "lab3 serving again")
    wait_until(lambda: lab_etcd.get(EDGES + "lab3") is not None, 10, "lab3's ack again")


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs Debian's haproxy on this machine")
def test_agent_keeps_serving_through_an_etcd_outage_and_catches_up(tmp_path):
    """The agent with a HAProxy of its own on this machine (high ports, reloaded by USR2 to its master)
    and an etcd of its own: etcd stopped, the routes stay served; etcd back, the agent watches again
    and applies what is put."""
    from test_register_agent import Etcd, free_port

    pki_dir = tmp_path / "pki"
    etcd = Etcd(tmp_path / "etcd" / "data", pki_dir)
    (tmp_path / "etcd").mkdir()
    etcd.start()
    cert, key = pki.agent_cert_for(pki_dir, "edge-local")
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    procs: list[subprocess.Popen] = []
    pages = {}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "id").write_text(name)
        port = free_port()
        procs.append(subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                                      cwd=tmp_path / name, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        pages[name] = (f"local-{name}", "127.0.0.1", port, name)
    http_port = free_port()
    edge = {"http_port": http_port, "https_port": free_port(), "user": None,
            "haproxy_cfg": str(tmp_path / "haproxy.cfg"), "admin_socket": str(tmp_path / "admin.sock"),
            "certs_dir": str(tmp_path / "certs"), "state_file": str(tmp_path / "state.json")}
    config = {"etcd_endpoints": [etcd.url], "id": "edge-local", "address": "127.0.0.1", "ttl": 3,
              "etcd_cacert": str(pki.EtcdFiles.in_dir(pki_dir).ca), "etcd_cert": str(tmp_path / "cert.pem"),
              "etcd_key": str(tmp_path / "key.pem"), "edge": edge}
    path = tmp_path / "register.json"
    agent_cmd = ["/usr/bin/python3", "-I", str(ROOT_AGENT), "--config", str(path)]
    try:
        path.write_text(json.dumps(config))
        subprocess.run([*agent_cmd, "--edge-init"], check=True, timeout=30)
        haproxy = subprocess.Popen(["haproxy", "-Ws", "-f", edge["haproxy_cfg"]], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        procs.append(haproxy)
        path.write_text(json.dumps({**config, "edge": {**edge, "reload_command": ["kill", "-USR2", str(haproxy.pid)]}}))
        log = open(tmp_path / "agent.log", "wb")
        procs.append(subprocess.Popen(agent_cmd, stderr=log))
        wait_until(lambda: fetch("127.0.0.1", http_port)[0] == 503, 10, "HAProxy answering 503")

        def put(*backends):
            return etcd.call("/kv/put", {"key": b64(ROUTES + APP),
                                         "value": b64(json.dumps(http_route(*[(*b, "ready") for b in backends])))})

        put(pages["a"])
        wait_until(lambda: fetch("127.0.0.1", http_port) == (200, "a"), 10, "the route served")
        etcd.stop()
        time.sleep(2.5)  # longer than a watch retry, shorter than anything that could forget routes
        assert all(fetch("127.0.0.1", http_port) == (200, "a") for _ in range(5))  # served from memory and disk
        etcd.start()
        start = time.monotonic()
        put(pages["a"], pages["b"])
        wait_until(lambda: {fetch("127.0.0.1", http_port)[1] for _ in range(4)} == {"a", "b"}, 10,
                   "the change after the outage served")
        print(f"\nafter an etcd outage: put -> served in {time.monotonic() - start:.3f}s (watch re-established)")
        text = (tmp_path / "agent.log").read_text()
        assert "keeping the last routes" in text and "watching /paasops/routes/ again" in text
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        etcd.stop()
