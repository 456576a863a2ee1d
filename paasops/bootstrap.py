"""What `paasops bootstrap` adds around the playbook run: certificates and per-host variables."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from . import pki
from .errors import UserInputError
from .inventory import Host
from .inventory.values import to_bool


def shipped_dir(name: str) -> Path:
    """A top-level folder of the repository that ships as package data (playbooks, templates, bin).

    Installed from a wheel it is `paasops/NAME` (setup.py maps it there); in a checkout (an
    editable install, or PYTHONPATH on a worktree) it is the repository's own `NAME/`.
    """
    packaged = resources.files("paasops").joinpath(name)
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name


PLAYBOOKS_DIR = shipped_dir("playbooks")
TEMPLATES_DIR = shipped_dir("templates")
BOOTSTRAP_PLAYBOOK = PLAYBOOKS_DIR / "bootstrap.yml"


def etcd_endpoints_for(host: Host, override: list[str] | None) -> list[str]:
    """--etcd wins; else the host's `paasops_etcd_endpoints` var (a string or a list)."""
    if override:
        return override
    value = host.vars.get("paasops_etcd_endpoints")
    if not value:
        raise UserInputError("no etcd endpoint: pass --etcd URL or set paasops_etcd_endpoints "
                             "in the inventory", where=host.name)
    return [e.strip() for e in value.split(",")] if isinstance(value, str) else list(value)


def is_edge(host: Host, edge_group: bool) -> bool:
    """The host runs the edge (HAProxy): its `paasops_edge` var if set, else whether it is in group
    `edge`, else (no target in such a group) yes: every engine is an edge by default."""
    if "paasops_edge" in host.vars:
        return to_bool(host.vars["paasops_edge"])
    return "edge" in host.groups if edge_group else True


def prepare_hosts(hosts: list[Host], pki_dir: Path, etcd: list[str] | None, *, edge_group: bool | None = None) -> None:
    """Issue certificates (CA once) and set the variables bootstrap.yml reads, on each host. `edge_group`:
    whether the inventory has a group `edge` (then only its hosts are edges), else told by the hosts given."""
    ca = pki.ensure_ca(pki_dir)
    pki.ensure_client_cert(pki_dir, ca)
    etcd_ca = pki.etcd_client_files(pki_dir).ca.read_text()  # and the service's own etcd client cert
    if edge_group is None:
        edge_group = any("edge" in host.groups for host in hosts)
    for host in hosts:
        endpoints = etcd_endpoints_for(host, etcd)
        plain = [e for e in endpoints if not e.startswith("https://")]
        if plain:
            raise UserInputError(f"etcd endpoint {plain[0]!r} is not https://: the registration agent speaks "
                                 "only TLS to etcd, with its own client certificate", where=host.name)
        cert_pem, key_pem = pki.server_cert_for(pki_dir, host.name, host.address)
        agent_cert_pem, agent_key_pem = pki.agent_cert_for(pki_dir, host.name)
        pki.mark_enrolled(pki_dir, host.name)
        declared = {}
        if "paasops_cpus" in host.vars:
            declared["engine_cpus"] = float(host.vars["paasops_cpus"])
        if "paasops_memory_mb" in host.vars:
            declared["engine_memory_mb"] = int(host.vars["paasops_memory_mb"])
        host.vars.update(
            tls_ca_pem=ca.cert_pem.decode(), tls_server_cert_pem=cert_pem.decode(),
            tls_server_key_pem=key_pem.decode(), etcd_endpoints=endpoints,
            engine_id=host.name, engine_address=host.address, etcd_ca_pem=etcd_ca,
            etcd_cert_pem=agent_cert_pem.decode(), etcd_key_pem=agent_key_pem.decode(),
            engine_labels=host.vars.get("paasops_labels", {}), edge_enabled=is_edge(host, edge_group),
            **declared)
