"""Facts: a shell command to read something from a host plus a pure parser of its output.

Host facts are gathered once per host (one round trip) and exposed to playbooks as `facts`:

    facts.distribution.id          "debian", "ubuntu", "centos" … ("" when unknown)
    facts.distribution.id_like     ["debian"] (list, from ID_LIKE)
    facts.distribution.family      "debian" when id or id_like says so, else the id
    facts.distribution.version_id  "12"
    facts.distribution.codename    "bookworm"
    facts.distribution.name        "Debian GNU/Linux 12 (bookworm)"
    facts.init                     "systemd" when PID 1 is systemd, else "other"
    facts.systemd                  True/False (same as above)
    facts.cpu_count                4
    facts.mem_mb                   7937
    facts.arch                     "x86_64"
    facts.hostname                 "node1"
    facts.user_is_root             True when the connecting user is root

Module facts (file stat, installed packages, unit state, supervised pid) are built by the
functions below and gathered by the modules that need them, right before planning.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Fact:
    """What to run on the host and how to read its stdout."""

    name: str
    command: str
    parse: Callable[[str], Any]


# --- host facts: parsers -------------------------------------------------------------------

def parse_os_release(text: str) -> dict[str, Any]:
    """/etc/os-release → distribution facts."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw)
        except ValueError:
            parts = [raw.strip("\"'")]
        values[key.strip()] = parts[0] if parts else ""
    dist_id = values.get("ID", "").lower()
    id_like = values.get("ID_LIKE", "").lower().split()
    codename = values.get("VERSION_CODENAME") or values.get("UBUNTU_CODENAME") or ""
    if not codename and "(" in values.get("VERSION", ""):  # old Debian: VERSION="8 (jessie)"
        inside = values["VERSION"].split("(", 1)[1].rstrip(")").split()
        codename = inside[0].lower() if len(inside) == 1 else ""
    family = "debian" if dist_id == "debian" or "debian" in id_like else (
        "rhel" if dist_id in ("rhel", "centos", "fedora") or {"rhel", "fedora"} & set(id_like)
        else dist_id)
    return {
        "id": dist_id,
        "id_like": id_like,
        "family": family,
        "version_id": values.get("VERSION_ID", ""),
        "codename": codename,
        "name": values.get("PRETTY_NAME", values.get("NAME", "")),
    }


def parse_init(text: str) -> str:
    """Output of the PID 1 probe → "systemd" or "other"."""
    for line in text.splitlines():
        word = line.strip()
        if word == "systemd-dir" or word.rsplit("/", 1)[-1] == "systemd":
            return "systemd"
    return "other"


def parse_int(text: str, default: int = 0) -> int:
    try:
        return int(text.strip().splitlines()[0])
    except (ValueError, IndexError):
        return default


def parse_meminfo(text: str) -> int:
    """/proc/meminfo → total memory in MiB."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 0


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


HOST_FACTS: tuple[Fact, ...] = (
    Fact("distribution", "cat /etc/os-release || cat /usr/lib/os-release", parse_os_release),
    Fact("init", "readlink /proc/1/exe; cat /proc/1/comm; test -d /run/systemd/system && echo systemd-dir",
         parse_init),
    Fact("cpu_count", "nproc || grep -c ^processor /proc/cpuinfo", parse_int),
    Fact("mem_mb", "cat /proc/meminfo", parse_meminfo),
    Fact("arch", "uname -m", _first_line),
    Fact("hostname", "hostname || cat /etc/hostname", _first_line),
    Fact("user_is_root", "id -u", lambda out: parse_int(out, -1) == 0),
)

_MARK = "@@paasops-fact "


def host_facts_command(facts: tuple[Fact, ...] = HOST_FACTS) -> str:
    """One shell line printing every fact's output after a marker line."""
    return "; ".join(f"echo '{_MARK}{f.name}'; ({f.command}) 2>/dev/null" for f in facts)


def parse_host_facts(output: str, facts: tuple[Fact, ...] = HOST_FACTS) -> dict[str, Any]:
    """Split the combined output by marker and parse each section."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith(_MARK):
            current = line[len(_MARK):].strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    result = {f.name: f.parse("\n".join(sections.get(f.name, []))) for f in facts}
    result["systemd"] = result.get("init") == "systemd"
    return result


# --- module facts ---------------------------------------------------------------------------

_STAT_TYPES = {"regular file": "file", "regular empty file": "file", "directory": "directory",
               "symbolic link": "link"}


def parse_stat(text: str) -> dict[str, Any] | None:
    """`stat -c '%F|%a|%U|%G|%s'` → {type, mode, owner, group, size}; None when missing."""
    line = _first_line(text)
    if not line or line.count("|") < 4:
        return None
    kind, mode, owner, group, size = line.rsplit("|", 4)
    return {"type": _STAT_TYPES.get(kind, "other"), "mode": int(mode, 8), "owner": owner,
            "group": group, "size": int(size)}


def file_stat(path: str) -> Fact:
    return Fact("stat", f"stat -L -c '%F|%a|%U|%G|%s' -- {shlex.quote(path)} 2>/dev/null || true",
                parse_stat)


def path_exists(path: str) -> Fact:
    return Fact("exists", f"test -e {shlex.quote(path)} && echo yes || echo no",
                lambda out: out.strip() == "yes")


def parse_dpkg_query(text: str) -> dict[str, str]:
    """`dpkg-query -W -f='${Package}\\t${Status}\\t${Version}\\n'` → {installed name: version}."""
    installed = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[1].split()[-1:] == ["installed"]:
            installed[parts[0].split(":")[0]] = parts[2]
    return installed


def installed_packages(names: list[str]) -> Fact:
    quoted = " ".join(shlex.quote(n) for n in names)
    return Fact("packages",
                "dpkg-query -W -f='${Package}\\t${Status}\\t${Version}\\n' " + quoted + " 2>/dev/null; true",
                parse_dpkg_query)


def parse_systemctl_show(text: str) -> dict[str, Any]:
    """`systemctl show -p …` → {exists, active, enabled, need_reload, unit_file_state}."""
    props = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    load = props.get("LoadState", "")
    unit_file_state = props.get("UnitFileState", "")
    return {
        "exists": load not in ("", "not-found"),
        "active": props.get("ActiveState", "") in ("active", "activating", "reloading"),
        "enabled": unit_file_state in ("enabled", "enabled-runtime", "static", "alias", "indirect",
                                       "generated"),
        "unit_file_state": unit_file_state,
        "need_reload": props.get("NeedDaemonReload", "no") == "yes",
    }


def systemd_unit(name: str) -> Fact:
    return Fact("unit", f"systemctl show {shlex.quote(name)} -p LoadState -p ActiveState "
                        "-p UnitFileState -p NeedDaemonReload", parse_systemctl_show)


PIDFILE_DIR = "/run/paasops"


def pidfile(name: str) -> str:
    return f"{PIDFILE_DIR}/{name}.pid"


def parse_supervised(text: str) -> dict[str, Any]:
    """Output of the pidfile probe → {running, pid}."""
    words = _first_line(text).split()
    if words[:1] == ["running"] and len(words) == 2 and words[1].isdigit():
        return {"running": True, "pid": int(words[1])}
    return {"running": False, "pid": None}


def alive(pid_expr: str) -> str:
    """A shell test true while the process exists and is not a zombie (init may reap late)."""
    return (f'{{ [ -e /proc/{pid_expr}/status ] && '
            f"! grep -q '^State:[[:space:]]*Z' /proc/{pid_expr}/status; }}")


def supervised_process(name: str) -> Fact:
    p = shlex.quote(pidfile(name))
    return Fact("process", f'if [ -s {p} ] && {alive(f"$(cat {p})")}; '
                           f'then echo running "$(cat {p})"; else echo stopped; fi', parse_supervised)
