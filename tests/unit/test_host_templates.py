"""The host-side templates (daemon.json, docker override, register unit and config) and the
agent's pure helpers, without any service."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
from pathlib import Path

import jinja2
import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "templates"),
                         undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def render(name: str, **variables) -> str:
    return ENV.get_template(name).render(**variables)


def load_agent():
    path = str(ROOT / "bin" / "paasops-register")
    loader = importlib.machinery.SourceFileLoader("paasops_register", path)
    spec = importlib.util.spec_from_loader("paasops_register", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_daemon_json_defaults():
    config = json.loads(render("daemon.json.j2"))
    assert config["hosts"] == ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"]
    assert config["tls"] is True and config["tlsverify"] is True
    assert config["tlscacert"] == "/etc/docker/tls/ca.pem"
    assert config["tlscert"] == "/etc/docker/tls/server-cert.pem"
    assert config["tlskey"] == "/etc/docker/tls/server-key.pem"
    assert config["log-driver"] == "json-file"
    assert config["log-opts"] == {"max-size": "10m", "max-file": "3"}  # dockerd wants strings
    assert config["live-restore"] is True and config["init"] is True
    assert "storage-driver" not in config


def test_daemon_json_variables():
    config = json.loads(render("daemon.json.j2", docker_port=2400, docker_log_max_file=5,
                               docker_storage_driver="overlay2", docker_tls_dir="/srv/tls"))
    assert config["hosts"][1] == "tcp://0.0.0.0:2400"
    assert config["log-opts"]["max-file"] == "5"
    assert config["storage-driver"] == "overlay2"
    assert config["tlskey"] == "/srv/tls/server-key.pem"


def test_docker_override_clears_exec_start():
    lines = render("docker-override.conf.j2").splitlines()
    assert lines[lines.index("[Service]") + 1:] == ["ExecStart=", "ExecStart=/usr/sbin/dockerd"]


def test_register_unit():
    unit = render("paasops-register.service.j2")
    assert ("ExecStart=/usr/bin/python3 /usr/local/bin/paasops-register "
            "--config /etc/paasops/register.json") in unit.splitlines()
    assert "Restart=always" in unit
    assert "After=network-online.target docker.service" in unit
    assert "WantedBy=multi-user.target" in unit


def test_register_json_omits_undeclared_capacity():
    config = json.loads(render("register.json.j2", etcd_endpoints="https://10.0.0.1:2379",
                               inventory_hostname="web1", ansible_host="10.0.0.5"))
    assert config == {"etcd_endpoints": ["https://10.0.0.1:2379"], "id": "web1",
                      "address": "10.0.0.5", "docker_port": 2376, "labels": {}, "ttl": 10,
                      "etcd_cacert": "/etc/paasops/tls/etcd-ca.pem", "etcd_cert": "/etc/paasops/tls/agent-cert.pem",
                      "etcd_key": "/etc/paasops/tls/agent-key.pem"}


def test_register_json_declared_capacity():
    config = json.loads(render("register.json.j2", etcd_endpoints=["http://e:2379"],
                               engine_id="w", engine_cpus=8, engine_memory_mb="4096",
                               engine_labels={"zone": "a"}))
    assert (config["cpus"], config["memory_mb"], config["labels"]) == (8, 4096, {"zone": "a"})


def test_agent_detects_from_proc_files(tmp_path):
    agent = load_agent()
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nmodel name\t: x\n\nprocessor\t: 1\n")
    (tmp_path / "meminfo").write_text("MemTotal:       2048000 kB\nMemFree: 1 kB\n")
    assert agent.detect_cpus(tmp_path / "cpuinfo") == 2
    assert agent.detect_memory_mb(tmp_path / "meminfo") == 2000


@pytest.mark.parametrize("bad, message", [
    ({"ttl": 0}, "ttl"), ({"docker_port": "x"}, "docker_port"), ({"cpus": -1}, "cpus"),
    ({"etcd_endpoints": []}, "etcd_endpoints"), ({"id": "a/b"}, "id"), ({"labels": []}, "labels"),
])
def test_agent_rejects_bad_config(bad, message):
    agent = load_agent()
    config = {**agent.DEFAULTS, "address": "10.0.0.1", **bad}
    with pytest.raises(agent.ConfigError, match=message):
        agent.validate(config)


def test_agent_normalises_endpoints():
    agent = load_agent()
    config = agent.validate({**agent.DEFAULTS, "id": "h", "address": "10.0.0.1",
                             "etcd_endpoints": "10.0.0.1:2379, https://e:2379"})
    assert config["etcd_endpoints"] == ["https://10.0.0.1:2379", "https://e:2379"]


def test_agent_refuses_plain_http_etcd_and_missing_tls_files(tmp_path):
    agent = load_agent()
    with pytest.raises(agent.ConfigError, match="'http://10.0.0.1:2379' is not https://"):
        agent.validate({**agent.DEFAULTS, "id": "h", "address": "10.0.0.1",
                        "etcd_endpoints": ["http://10.0.0.1:2379"]})
    with pytest.raises(agent.ConfigError, match="etcd_cert: no file"):
        agent.ssl_context({"etcd_cacert": __file__, "etcd_cert": str(tmp_path / "none.pem"), "etcd_key": __file__})


def test_agent_falls_back_to_v3beta_on_an_older_etcd():
    """etcd 3.3 has no /v3 route (a plain-text 404): the agent retries under /v3beta."""
    import http.server
    import threading

    seen = []

    class OldEtcd(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(self.path)
            self.rfile.read(int(self.headers["Content-Length"]))
            if not self.path.startswith("/v3beta/"):
                body, kind, status = b"404 page not found\n", "text/plain", 404
            elif self.path.endswith("/lease/grant"):
                body, kind, status = b'{"ID":"7","TTL":"5"}', "application/json", 200
            else:
                body, kind, status = b'{"header":{}}', "application/json", 200
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), OldEtcd)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        agent_mod = load_agent()
        url = f"http://127.0.0.1:{server.server_port}"
        # the Gateway as such (plain http here; validate() would refuse http, see above)
        config = {**agent_mod.DEFAULTS, "id": "old", "address": "10.0.0.1", "etcd_endpoints": [url],
                  "cpus": 1, "memory_mb": 1}
        agent = agent_mod.Agent(config, agent_mod.Gateway([url], timeout=2))
        agent.register()
    finally:
        server.shutdown()
        server.server_close()
    assert (agent.lease, agent.ttl) == ("7", 5)
    assert seen == ["/v3/lease/grant", "/v3beta/lease/grant", "/v3beta/kv/put"]
