"""`paasops lab`: local test hosts as containers on the local Docker engine, plus their etcd."""

from __future__ import annotations

import io
import json
import os
import socket
import tarfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ConnectionFailed, UserInputError
from ..pki import default_pki_dir
from ..vocabulary import LABEL_LAB, data_dir
from . import etcd, image, keys

DEFAULT_NAME = "paasops-lab"
LABEL = LABEL_LAB
# Every capability but SYS_RESOURCE, which this kind of machine lacks (so --privileged fails).
CAPABILITIES = (
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE "
    "NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO "
    "SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_TIME SYS_TTY_CONFIG MKNOD "
    "LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM "
    "BLOCK_SUSPEND AUDIT_READ").split()
DEFAULT_CAPACITIES = [(4.0, 4096), (2.0, 2048), (8.0, 8192)]


def default_lab_dir() -> Path:
    """Where the lab keeps its keys, known_hosts and etcd: $PAASOPS_LAB_DIR or the user data dir."""
    if os.environ.get("PAASOPS_LAB_DIR"):
        return Path(os.environ["PAASOPS_LAB_DIR"])
    return data_dir() / "lab"


@dataclass
class LabHost:
    name: str
    container: str
    address: str
    cpus: float
    memory_mb: int
    state: str
    ssh: bool = False


def parse_capacities(text: str) -> list[tuple[float, int]]:
    """'4:4096,2:2048' -> [(4.0, 4096), (2.0, 2048)]; each item is CPUS:MEMORY_MB."""
    out = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            cpus, mem = item.split(":")
            out.append((float(cpus), int(mem)))
        except ValueError:
            raise UserInputError(f"capacity {item!r} is not CPUS:MEMORY_MB (e.g. 4:4096)",
                                 where="--capacities") from None
        if out[-1][0] <= 0 or out[-1][1] <= 0:
            raise UserInputError(f"capacity {item!r} must be positive", where="--capacities")
    return out


def _docker():
    import docker  # imported here so pure users of this package need no engine
    try:
        client = docker.from_env(timeout=120)
        client.ping()
        return client
    except Exception as exc:  # docker.errors.DockerException and socket errors
        raise ConnectionFailed(f"the local Docker engine does not answer ({exc}); start dockerd",
                               where="lab") from None


def _tar(files: dict[str, tuple[bytes, int, int]]) -> bytes:
    """A tar of {path: (data, mode, uid)} for put_archive at /."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, (data, mode, uid) in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.uid, info.gid = len(data), mode, uid, uid
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _wait_ssh(address: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, 22), timeout=1) as sock:
                sock.settimeout(2)
                if sock.recv(4).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


class Lab:
    """The lab on the local engine: its hosts, network, keys, etcd, inventory."""

    def __init__(self, state_dir: Path | None = None, inventory_path: Path | None = None,
                 log: Callable[[str], None] = lambda _: None, name: str = DEFAULT_NAME,
                 pki_dir: Path | None = None):
        self.name = name  # the lab's network, and the prefix of its containers and volumes
        self.state_dir = Path(state_dir or default_lab_dir() / ("" if name == DEFAULT_NAME else name))
        self.inventory_path = Path(inventory_path or "inventory/lab.ini")
        self.log = log
        self.user_key = self.state_dir / "id_ed25519"
        self.known_hosts = self.state_dir / "known_hosts"
        # the PKI whose etcd CA the lab's etcd trusts: the one bootstrap and serve use
        self.pki_dir = Path(pki_dir) if pki_dir else default_pki_dir()

    # -- queries -------------------------------------------------------------------------
    def _containers(self, client):
        found = client.containers.list(all=True, filters={"label": f"{LABEL}={self.name}"})
        return sorted(found, key=lambda c: int(c.labels.get("paasops.lab.index", "0")))

    def hosts(self, client=None) -> list[LabHost]:
        client = client or _docker()
        out = []
        for c in self._containers(client):
            nets = c.attrs["NetworkSettings"]["Networks"]
            address = nets.get(self.name, {}).get("IPAddress", "") if nets else ""
            out.append(LabHost(c.labels["paasops.lab.name"], c.name, address,
                               float(c.labels["paasops.lab.cpus"]), int(c.labels["paasops.lab.memory_mb"]),
                               c.status, bool(address) and c.status == "running" and _wait_ssh(address, 0.5)))
        return out

    def gateway(self, client) -> str:
        net = client.networks.get(self.name)
        return net.attrs["IPAM"]["Config"][0]["Gateway"]

    def etcd_endpoint(self) -> str | None:
        meta = self.state_dir / "lab.json"
        return json.loads(meta.read_text())["etcd"] if meta.exists() else None

    # -- up / down -----------------------------------------------------------------------
    def up(self, count: int, capacities: list[tuple[float, int]] | None = None) -> list[LabHost]:
        if count < 1:
            raise UserInputError("need at least one lab host", where="--hosts")
        capacities = capacities or DEFAULT_CAPACITIES
        client = _docker()
        if not image.image_exists(client):
            image.build_image(client, self.state_dir / "cache", self.log)
        self._ensure_network(client)
        gateway = self.gateway(client)
        self.log(f"etcd on {gateway}:2379")
        endpoint = etcd.ensure_etcd(self.state_dir, gateway, pki_dir=self.pki_dir)
        user_pub = keys.ensure_key_pair(self.user_key, "paasops-lab")
        existing = {c.labels["paasops.lab.name"]: c for c in self._containers(client)}
        for index in range(1, count + 1):
            name = f"lab{index}"
            cpus, mem = capacities[(index - 1) % len(capacities)]
            if name in existing:
                if existing[name].status != "running":
                    existing[name].start()
                continue
            self.log(f"creating {name} ({cpus:g} cpus, {mem} MB)")
            self._create_host(client, index, name, cpus, mem, user_pub)
        for extra in [c for n, c in existing.items() if int(n[3:]) > count]:
            self._remove_container(client, extra)
        hosts = self.hosts(client)
        for host in hosts:
            if not _wait_ssh(host.address, 60):
                raise ConnectionFailed(f"sshd did not answer on {host.address}:22 within 60s", where=host.name)
            host.ssh = True
        self._write_inventory(hosts, endpoint)
        keys.write_known_hosts(self.known_hosts, [
            keys.host_key_line([h.address], (self.state_dir / "hostkeys" / f"{h.name}.pub").read_bytes())
            for h in hosts])
        (self.state_dir / "lab.json").write_text(json.dumps(
            {"etcd": endpoint, "network": self.name, "inventory": str(self.inventory_path.resolve()),
             "hosts": [asdict(h) for h in hosts]}, indent=2))
        return hosts

    def _ensure_network(self, client) -> None:
        if not client.networks.list(names=[self.name]):
            client.networks.create(self.name, driver="bridge", labels={LABEL: self.name})

    def _create_host(self, client, index: int, name: str, cpus: float, mem: int, user_pub: bytes) -> None:
        cname = f"{self.name}-{name}"
        host_key = self.state_dir / "hostkeys" / name
        keys.ensure_key_pair(host_key, f"root@{name}")
        authorized = user_pub + b"\n"
        host_config = client.api.create_host_config(
            cap_add=CAPABILITIES, cgroupns="private", network_mode=self.name,
            security_opt=["seccomp=unconfined", "apparmor=unconfined"],
            device_cgroup_rules=["a *:* rwm"], tmpfs={"/run": "", "/run/lock": ""},
            binds={f"{cname}-docker": {"bind": "/var/lib/docker", "mode": "rw"}})
        # `--security-opt systempaths=unconfined`, which docker-py does not know: unmask /proc, /sys.
        host_config.update(MaskedPaths=[], ReadonlyPaths=[])
        created = client.api.create_container(
            image.LAB_IMAGE, name=cname, hostname=name, detach=True, host_config=host_config,
            stop_signal="SIGRTMIN+3",
            labels={LABEL: self.name, "paasops.lab.name": name, "paasops.lab.index": str(index),
                    "paasops.lab.cpus": f"{cpus:g}", "paasops.lab.memory_mb": str(mem)})
        container = client.containers.get(created["Id"])
        admin_uid = 1000
        container.put_archive("/", _tar({
            "etc/ssh/ssh_host_ed25519_key": (host_key.read_bytes(), 0o600, 0),
            "etc/ssh/ssh_host_ed25519_key.pub": (host_key.with_name(f"{name}.pub").read_bytes(), 0o644, 0),
            "root/.ssh/authorized_keys": (authorized, 0o600, 0),
            f"home/{image.LAB_USER}/.ssh/authorized_keys": (authorized, 0o600, admin_uid),
        }))
        container.start()

    def _remove_container(self, client, container) -> None:
        self.log(f"removing {container.name}")
        container.remove(force=True, v=True)
        try:
            client.volumes.get(f"{container.name}-docker").remove(force=True)
        except Exception:  # already gone
            pass

    def _write_inventory(self, hosts: list[LabHost], endpoint: str) -> None:
        lines = ["# Written by `paasops lab up`: the lab hosts on the local Docker engine.", "[lab]"]
        for h in hosts:
            lines.append(f"{h.name} ansible_host={h.address} paasops_cpus={h.cpus:g} "
                         f"paasops_memory_mb={h.memory_mb}")
        lines += ["", "[lab:vars]", f"ansible_user={image.LAB_USER}", "ansible_become=true",
                  f"ansible_ssh_private_key_file={self.user_key.resolve()}",
                  f"paasops_known_hosts={self.known_hosts.resolve()}",
                  f"paasops_etcd_endpoints={endpoint}", ""]
        self.inventory_path.parent.mkdir(parents=True, exist_ok=True)
        self.inventory_path.write_text("\n".join(lines))

    def down(self) -> int:
        client = _docker()
        removed = 0
        for c in self._containers(client):
            self._remove_container(client, c)
            removed += 1
        for net in client.networks.list(names=[self.name]):
            net.remove()
        etcd.stop_etcd(self.state_dir)
        for path in (self.inventory_path, self.state_dir / "lab.json"):
            path.unlink(missing_ok=True)
        return removed
