"""Module planning as data: (module, args, facts) → the commands/writes it yields."""

from __future__ import annotations

import pytest

from paasops.automation.actions import WriteFile, describe, diff_all
from paasops.automation.modules import MODULES, PlanError
from paasops.automation.modules.package import APT
from paasops.automation.modules.service import start_command, stop_command
from paasops.errors import UnsupportedHost

DEBIAN = {"id": "debian", "id_like": [], "family": "debian", "name": "Debian GNU/Linux 12 (bookworm)"}
ROCKY = {"id": "rocky", "id_like": ["rhel", "centos", "fedora"], "family": "rhel", "name": "Rocky Linux 9"}


def stat(kind="file", mode=0o644, owner="root", group="root", size=0):
    return {"type": kind, "mode": mode, "owner": owner, "group": group, "size": size}


def unit(exists=True, active=False, enabled=False, need_reload=False, state="disabled"):
    return {"exists": exists, "active": active, "enabled": enabled, "need_reload": need_reload,
            "unit_file_state": state}


SYSTEMD = "systemd"

# id, module, args, facts, expected action descriptions ([] = ok, unchanged)
CASES = [
    # package
    ("pkg installed", "package", {"name": "curl"}, {"distribution": DEBIAN, "installed": {"curl": "7.88"}}, []),
    ("pkg missing", "package", {"name": ["curl", "docker.io"]},
     {"distribution": DEBIAN, "installed": {"curl": "7.88"}}, [f"{APT} install docker.io"]),
    ("pkg missing, update cache first", "package", {"name": "docker.io", "update_cache": True},
     {"distribution": DEBIAN, "installed": {}}, [f"{APT} update", f"{APT} install docker.io"]),
    ("pkg present, no cache update needed", "package", {"name": "docker.io", "update_cache": True},
     {"distribution": DEBIAN, "installed": {"docker.io": "20.10"}}, []),
    ("pkg pinned version counts as its name", "package", {"name": "docker.io=20.10*"},
     {"distribution": DEBIAN, "installed": {"docker.io": "20.10"}}, []),
    ("pkg absent, installed", "package", {"name": "nano", "state": "absent"},
     {"distribution": DEBIAN, "installed": {"nano": "7.2"}}, [f"{APT} remove nano"]),
    ("pkg absent, not installed", "package", {"name": "nano", "state": "absent"},
     {"distribution": DEBIAN, "installed": {}}, []),
    # file
    ("dir missing", "file", {"path": "/srv/a b", "state": "directory", "mode": "0750", "owner": "app"},
     {"stat": None}, ["mkdir -p -- '/srv/a b'", "chmod 0750 '/srv/a b'", "chown app '/srv/a b'"]),
    ("dir exists, same", "file", {"path": "/srv", "state": "directory", "mode": 0o755},
     {"stat": stat("directory", 0o755)}, []),
    ("dir exists, wrong mode and group", "file", {"path": "/srv", "state": "directory", "mode": 0o700, "group": "docker"},
     {"stat": stat("directory", 0o755)}, ["chmod 0700 /srv", "chown :docker /srv"]),
    ("absent, exists", "file", {"path": "/tmp/x", "state": "absent"}, {"stat": stat()}, ["rm -rf -- /tmp/x"]),
    ("absent, already", "file", {"path": "/tmp/x", "state": "absent"}, {"stat": None}, []),
    ("touch, missing", "file", {"path": "/tmp/x", "state": "touch", "mode": "600"}, {"stat": None},
     ["touch -- /tmp/x", "chmod 0600 /tmp/x"]),
    ("touch, exists: attributes only", "file", {"path": "/tmp/x", "state": "touch"}, {"stat": stat()}, []),
    ("file: owner fix", "file", {"path": "/etc/x", "owner": "app", "group": "app"}, {"stat": stat()},
     ["chown app:app /etc/x"]),
    ("file: owner and group quoted for the shell", "file", {"path": "/etc/x", "owner": "a;rm -rf /", "group": "g $(id)"},
     {"stat": stat()}, ["chown 'a;rm -rf /:g $(id)' /etc/x"]),
    ("file: group alone quoted", "file", {"path": "/etc/x", "group": "`id`"}, {"stat": stat()},
     ["chown ':`id`' /etc/x"]),
    # copy / template
    ("copy new file", "copy", {"content": "a\n", "dest": "/etc/a"}, {"stat": None, "content": None},
     ["write /etc/a (2 bytes, mode 0644)"]),
    ("copy same content", "copy", {"content": "a\n", "dest": "/etc/a", "mode": "0644"},
     {"stat": stat(size=2), "content": b"a\n"}, []),
    ("copy same content, mode differs", "copy", {"content": "a\n", "dest": "/etc/a", "mode": "0600"},
     {"stat": stat(size=2), "content": b"a\n"}, ["chmod 0600 /etc/a"]),
    ("copy new content keeps mode and owner", "copy", {"content": "b\n", "dest": "/etc/a"},
     {"stat": stat(mode=0o640, owner="app", group="adm"), "content": b"a\n"},
     ["write /etc/a (2 bytes, mode 0640 app:adm)"]),
    ("copy dict content is JSON", "copy", {"content": {"b": 1}, "dest": "/etc/d.json"},
     {"stat": None, "content": None}, ["write /etc/d.json (13 bytes, mode 0644)"]),
    ("template rendered text", "template", {"src": "x.j2", "dest": "/etc/x", "content": "hi\n", "mode": 0o600},
     {"stat": None, "content": None}, ["write /etc/x (3 bytes, mode 0600)"]),
    # command / shell
    ("command runs", "command", {"cmd": "echo $HOME; ls"}, {}, ["echo '$HOME;' ls"]),
    ("shell keeps shell features", "shell", {"cmd": "echo $HOME; ls", "chdir": "/tmp"}, {}, ["cd /tmp && echo $HOME; ls"]),
    ("creates exists: skip", "command", {"cmd": "make", "creates": "/x"}, {"creates_exists": True}, []),
    ("creates missing: run", "command", {"cmd": "make", "creates": "/x"}, {"creates_exists": False}, ["make"]),
    ("removes missing: skip", "shell", {"cmd": "rm /x", "removes": "/x"}, {"removes_exists": False}, []),
    ("argv", "command", {"argv": ["echo", "a b"]}, {}, ["echo 'a b'"]),
    # service, systemd
    ("systemd start", "service", {"name": "docker", "state": "started", "enabled": True},
     {"init": SYSTEMD, "unit": unit()}, ["systemctl enable docker", "systemctl reset-failed docker 2>/dev/null; systemctl start docker"]),
    ("systemd already running and enabled", "service", {"name": "docker", "state": "started", "enabled": True},
     {"init": SYSTEMD, "unit": unit(active=True, enabled=True, state="enabled")}, []),
    ("systemd unit file changed → daemon-reload", "service", {"name": "reg", "state": "started"},
     {"init": SYSTEMD, "unit": unit(active=True, need_reload=True)}, ["systemctl daemon-reload"]),
    ("systemd new unit not loaded yet", "service", {"name": "reg", "state": "started"},
     {"init": SYSTEMD, "unit": unit(exists=False)}, ["systemctl daemon-reload", "systemctl reset-failed reg 2>/dev/null; systemctl start reg"]),
    ("systemd stop missing unit: ok", "service", {"name": "reg", "state": "stopped"},
     {"init": SYSTEMD, "unit": unit(exists=False)}, []),
    ("systemd stop", "service", {"name": "docker", "state": "stopped", "enabled": False},
     {"init": SYSTEMD, "unit": unit(active=True, enabled=True, state="enabled")},
     ["systemctl disable docker", "systemctl stop docker"]),
    ("systemd restart always", "service", {"name": "docker", "state": "restarted"},
     {"init": SYSTEMD, "unit": unit(active=True)}, ["systemctl reset-failed docker 2>/dev/null; systemctl restart docker"]),
    ("systemd restart with daemon_reload reloads first", "service",
     {"name": "docker", "state": "restarted", "daemon_reload": True},
     {"init": SYSTEMD, "unit": unit(active=True)},
     ["systemctl daemon-reload", "systemctl reset-failed docker 2>/dev/null; systemctl restart docker"]),
    # service, fallback supervisor
    ("supervised start", "service", {"name": "dockerd", "state": "started", "command": "dockerd"},
     {"init": "other", "process": {"running": False, "pid": None}}, [start_command("dockerd", "dockerd")]),
    ("supervised running", "service", {"name": "dockerd", "state": "started", "command": "dockerd"},
     {"init": "other", "process": {"running": True, "pid": 42}}, []),
    ("supervised stop", "service", {"name": "dockerd", "state": "stopped"},
     {"init": "other", "process": {"running": True, "pid": 42}}, [stop_command("dockerd")]),
    ("supervised stop, not running", "service", {"name": "dockerd", "state": "stopped"},
     {"init": "other", "process": {"running": False, "pid": None}}, []),
    ("supervised restart", "service", {"name": "d", "state": "restarted", "command": "d -f"},
     {"init": "other", "process": {"running": True, "pid": 42}}, [stop_command("d"), start_command("d", "d -f")]),
    ("supervised enabled is a no-op", "service", {"name": "d", "enabled": True},
     {"init": "other", "process": {"running": False, "pid": None}}, []),
]


@pytest.mark.parametrize("module, args, facts, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan(module, args, facts, expected):
    mod = MODULES[module]
    normalised = mod.validate(args) if module != "template" else {**mod.validate(
        {k: v for k, v in args.items() if k != "content"}), "content": args["content"]}
    assert describe(mod.plan(normalised, facts)) == expected


REFUSALS = [
    ("package", {"name": "curl"}, {"distribution": ROCKY, "installed": {}}, UnsupportedHost,
     "only apt (Debian/Ubuntu) is supported; this host runs Rocky Linux 9"),
    ("file", {"path": "/etc/x", "state": "directory"}, {"stat": stat("file")}, PlanError,
     "/etc/x exists and is a file, not a directory"),
    ("file", {"path": "/etc/x"}, {"stat": None}, PlanError, "/etc/x does not exist (use state: touch"),
    ("copy", {"content": "x", "dest": "/etc"}, {"stat": stat("directory"), "content": None}, PlanError,
     "/etc is a directory"),
    ("service", {"name": "dockerd", "state": "started"}, {"init": "other", "process": {"running": False}},
     PlanError, "PID 1 is not systemd: service 'dockerd' needs a 'command' argument"),
]


@pytest.mark.parametrize("module, args, facts, error, message", REFUSALS, ids=[r[4][:40] for r in REFUSALS])
def test_plan_refuses(module, args, facts, error, message):
    mod = MODULES[module]
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        mod.plan(mod.validate(args), facts)


def test_write_diff_is_unified():
    actions = MODULES["copy"].plan(MODULES["copy"].validate({"content": "a\nc\n", "dest": "/etc/x"}),
                                   {"stat": stat(), "content": b"a\nb\n"})
    assert isinstance(actions[0], WriteFile)
    assert diff_all(actions) == ("--- before: /etc/x\n+++ after: /etc/x\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n")


def test_state_change_diff():
    actions = MODULES["file"].plan(MODULES["file"].validate({"path": "/d", "state": "directory"}), {"stat": None})
    assert diff_all(actions) == "-/d: absent\n+/d: directory\n"


def test_mode_arrives_from_yaml_as_int_or_string():
    mod = MODULES["file"]
    assert mod.validate({"path": "/x", "mode": 0o644})["mode"] == 0o644
    assert mod.validate({"path": "/x", "mode": "0644"})["mode"] == 0o644
    assert mod.validate({"path": "/x", "mode": "750"})["mode"] == 0o750
