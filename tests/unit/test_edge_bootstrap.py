"""Which hosts bootstrap makes edges, the agent config's `edge` section and the HAProxy tasks of
bootstrap.yml (pure: templates rendered and the playbook parsed, no host)."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import pytest

from paasops.automation.playbook import load_playbook
from paasops.bootstrap import BOOTSTRAP_PLAYBOOK, is_edge
from paasops.inventory import Host

ROOT = Path(__file__).resolve().parents[2]
ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "templates"), undefined=jinja2.StrictUndefined)


def host(name: str, *groups: str, **hvars) -> Host:
    return Host(name, f"10.0.0.{len(name)}", vars=hvars, groups=list(groups))


@pytest.mark.parametrize("h,edge_group,expected", [
    (host("a", "lab"), False, True),           # no group `edge` among the targets: every engine
    (host("a", "lab"), True, False),           # there is one, and this host is not in it
    (host("a", "lab", "edge"), True, True),
    (host("a", "edge", paasops_edge="false"), True, False),  # the host var wins
    (host("a", paasops_edge="yes"), True, True),
])
def test_is_edge(h, edge_group, expected):
    assert is_edge(h, edge_group) is expected


def render_register(**variables) -> dict:
    return json.loads(ENV.get_template("register.json.j2").render(
        etcd_endpoints=["https://10.0.0.1:2379"], engine_id="lab1", **variables))


def test_register_json_has_the_edge_section_only_on_edges():
    assert "edge" not in render_register()
    assert "edge" not in render_register(edge_enabled=False)
    assert render_register(edge_enabled=True)["edge"] == {
        "http_port": 80, "https_port": 443, "haproxy_cfg": "/etc/haproxy/haproxy.cfg",
        "admin_socket": "/run/haproxy/admin.sock", "certs_dir": "/etc/haproxy/paasops-certs"}
    ports = render_register(edge_enabled=True, edge_http_port="8080", edge_https_port=8443)["edge"]
    assert (ports["http_port"], ports["https_port"]) == (8080, 8443)


def test_playbook_installs_and_starts_haproxy_on_edges_only():
    tasks = {t.name: t for play in load_playbook(BOOTSTRAP_PLAYBOOK).plays for t in play.tasks}
    haproxy = [t for t in tasks.values() if "haproxy" in json.dumps(t.args).lower()
               and t.module != "fail" and t.name != "No edge any more on this host"]
    assert [t.module for t in haproxy] == ["package", "file", "shell", "service"]
    assert all(t.when == ("edge_enabled | default(false)",) for t in haproxy)
    certs = next(t for t in haproxy if t.module == "file")
    assert certs.args["mode"] in ("0700", 0o700)
    init = next(t for t in haproxy if t.module == "shell")
    # written once (the agent owns the file from then on): a second bootstrap changes nothing
    assert init.args["creates"] == "/etc/haproxy/paasops-state.json" and "--edge-init" in init.args["cmd"]
    started = next(t for t in haproxy if t.module == "service")
    assert (started.args["state"], started.args["enabled"]) == ("started", True)
    gone = tasks["No edge any more on this host"]
    # only where paasops wrote the config (a HAProxy of the user's own is left alone), and only once
    assert gone.when == ("not (edge_enabled | default(false))",)
    assert gone.args["removes"] == "/etc/haproxy/paasops-state.json" and "disable --now haproxy" in gone.args["cmd"]
    refuse = tasks["Refuse an edge host without systemd"]
    assert refuse.module == "fail" and refuse.when == ("edge_enabled | default(false)", "not facts.systemd")


def test_verify_has_no_edge_checks_on_a_host_without_an_edge_section():
    from paasops.connectors.base import CommandResult, Connector
    from paasops.verify import edge_checks

    class Scripted(Connector):
        name = "h1"

        def __init__(self, out: str):
            self.out, self.ran = out, []

        def run(self, command, *, sudo=False, timeout=None, stdin=None):
            self.ran.append(command)
            return CommandResult(command, 0, self.out, "")

        def put(self, data, path, *, mode=None, sudo=False):
            raise AssertionError("verify never writes")

        def get(self, path, *, sudo=False):
            raise AssertionError("verify reads through commands")

    for out in ('{"id": "lab1"}', "not json", '{"edge": null}'):
        conn = Scripted(out)
        assert edge_checks(conn, "10.0.0.1", sudo=True) == []
        assert conn.ran == ["cat /etc/paasops/register.json"]


def test_an_inventory_edge_group_decides_even_when_its_hosts_are_not_bootstrapped(tmp_path):
    """`bootstrap web` with an inventory whose edge group holds other hosts: the web hosts are not edges."""
    from paasops.bootstrap import prepare_hosts
    from paasops.cli.commands.automation import _has_edge_group
    from paasops.inventory import load_inventory

    ini = tmp_path / "hosts.ini"
    ini.write_text("[web]\nweb1 ansible_host=10.0.0.1\n\n[edge]\nlb1 ansible_host=10.0.0.2\n")
    assert _has_edge_group(ini) is True
    web = load_inventory(ini).resolve(["web"])
    prepare_hosts(web, tmp_path / "pki", ["https://10.0.0.9:2379"], edge_group=_has_edge_group(ini))
    assert web[0].vars["edge_enabled"] is False
    plain = tmp_path / "plain.ini"
    plain.write_text("[web]\nweb1 ansible_host=10.0.0.1\n")
    assert _has_edge_group(plain) is False and _has_edge_group(None) is False
    web = load_inventory(plain).resolve(["web"])
    prepare_hosts(web, tmp_path / "pki", ["https://10.0.0.9:2379"], edge_group=_has_edge_group(plain))
    assert web[0].vars["edge_enabled"] is True
