"""The cron jobs' templates: crontab lines and systemd units render with StrictUndefined and mean what they say."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import jinja2
import jinja2.meta
import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "templates"),
                         undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
UNITS = ["paasops-reconcile.service", "paasops-reconcile.timer", "paasops-report.service", "paasops-report.timer"]


def render(name: str, **variables) -> str:
    return ENV.get_template(name).render(**variables)


def jobs(text: str) -> list[list[str]]:
    """Crontab job lines split into 5 time fields, the user and the command."""
    lines = [line for line in text.splitlines() if line and not line.startswith("#") and "=" not in line.split()[0]]
    return [line.split(" ", 6) for line in lines]


def unit(text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        elif "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            current.setdefault(key, []).append(value)
    return sections


def test_crontab_defaults():
    text = render("paasops-cron.j2")
    assert "PAASOPS_SERVER=http://127.0.0.1:5002" in text.splitlines()
    assert "PAASOPS_TOKEN_FILE=/etc/paasops/cron.token" in text.splitlines()  # an API token, not a login
    assert "%" not in text  # cron turns % into a newline
    report, reconcile = jobs(text)
    assert report[:6] == ["7", "*", "*", "*", "*", "paasops"]
    assert "/usr/local/bin/paasops report -o html --out /var/www/html/paasops/report.html" in report[6]
    assert reconcile[:6] == ["*/5", "*", "*", "*", "*", "paasops"]
    assert "/usr/local/bin/paasops reconcile" in reconcile[6] and "flock" not in reconcile[6]
    assert "logger -t paasops-reconcile" in reconcile[6] and "logger -t paasops-report" in report[6]


def test_crontab_variables_and_a_personal_crontab():
    text = render("paasops-cron.j2", paasops_bin="/opt/paasops/bin/paasops", paasops_server="https://ops:5002",
                  cron_user="", report_file="/srv/www/r.html", report_minute=0, reconcile_every=10,
                  syslog_tag="ops")
    report, reconcile = jobs(text)
    assert report[:5] == ["0", "*", "*", "*", "*"] and report[5].startswith("out=$(/opt/paasops/bin/paasops")
    assert "--out /srv/www/r.html" in report[5] + report[6]
    assert reconcile[0] == "*/10" and "logger -t ops-reconcile" in " ".join(reconcile)
    assert "PAASOPS_SERVER=https://ops:5002" in text


@pytest.mark.parametrize("code, priority, message", [
    (0, "user.info", None), (10, "user.info", None),
    (12, "user.warning", "exit 12: another reconcile is running"),
    (11, "user.err", "exit 11: reconcile failed or is still out of sync"),
    (5, "user.err", "exit 5: reconcile failed or is still out of sync"),
])
def test_crontab_reconcile_line_logs_by_exit_code(tmp_path, code, priority, message):
    """The reconcile job's shell, run by /bin/sh with a fake paasops and a fake logger."""
    fake = tmp_path / "paasops"
    fake.write_text(f"#!/bin/sh\necho \"reconcile: said something\"\nexit {code}\n")
    logger = tmp_path / "logger"
    # logger with a message logs it; without, it logs its stdin
    logger.write_text(f"#!/bin/sh\n{{ printf '%s|' \"$@\"; [ $# -gt 4 ] || tr '\\n' ' '; echo; }} >> {tmp_path}/log\n")
    for path in (fake, logger):
        path.chmod(0o755)
    command = jobs(render("paasops-cron.j2", paasops_bin=str(fake)))[1][6]
    subprocess.run(["/bin/sh", "-c", command], check=True, timeout=10,
                   env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"})
    logged = (tmp_path / "log").read_text().splitlines()
    assert logged[0] == "-t|paasops-reconcile|-p|user.info|reconcile: said something "  # the output, at info
    if message is None:
        assert len(logged) == 1
    else:
        assert logged[1] == f"-t|paasops-reconcile|-p|{priority}|{message}|"


@pytest.mark.parametrize("name", UNITS)
def test_units_render_with_defaults(name):
    assert render(name + ".j2").startswith("# Managed by paasops")


def test_reconcile_service():
    text = unit(render("paasops-reconcile.service.j2", paasops_bin="/opt/p/paasops", paasops_user="ops",
                       paasops_server="https://ops:5002", reconcile_args="--app 'web-*'"))
    service = text["Service"]
    assert service["Type"] == ["oneshot"] and service["User"] == ["ops"]
    assert service["ExecStart"] == ["/opt/p/paasops reconcile --app 'web-*'"]
    assert service["SuccessExitStatus"] == ["10"]  # changes applied and now in sync is a success
    assert service["Environment"] == ["PAASOPS_SERVER=https://ops:5002",
                                      "PAASOPS_TOKEN_FILE=/etc/paasops/reconcile.token"]
    assert unit(render("paasops-reconcile.service.j2"))["Service"]["ExecStart"] == ["/usr/local/bin/paasops reconcile"]


def test_timers():
    reconcile = unit(render("paasops-reconcile.timer.j2", reconcile_every=2))
    assert reconcile["Timer"]["OnUnitActiveSec"] == ["2min"] and reconcile["Install"]["WantedBy"] == ["timers.target"]
    report = unit(render("paasops-report.timer.j2"))
    assert report["Timer"] == {"OnCalendar": ["hourly"], "Persistent": ["true"]}


def test_report_service():
    service = unit(render("paasops-report.service.j2", report_file="/srv/r.json", report_format="json"))["Service"]
    assert service["ExecStart"] == ["/usr/local/bin/paasops report -o json --out /srv/r.json"]
    assert "SuccessExitStatus" not in service
    assert "PAASOPS_TOKEN_FILE=/etc/paasops/report.token" in service["Environment"]


def test_token_file_variable():
    assert "PAASOPS_TOKEN_FILE=/srv/t" in render("paasops-cron.j2", token_file="/srv/t").splitlines()
    service = unit(render("paasops-reconcile.service.j2", token_file="/srv/r"))["Service"]
    assert "PAASOPS_TOKEN_FILE=/srv/r" in service["Environment"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units(tmp_path):
    for name in UNITS:
        (tmp_path / name).write_text(render(name + ".j2", paasops_bin="/bin/true", paasops_user="root"))
    done = subprocess.run(["systemd-analyze", "verify", *(f"./{n}" for n in UNITS)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Unknown key" not in done.stderr and "Failed to parse" not in done.stderr, done


@pytest.mark.parametrize("name", ["paasops-cron.j2"] + [n + ".j2" for n in UNITS])
def test_every_variable_is_documented_at_the_top(name):
    source = (ROOT / "templates" / name).read_text()
    header = source[:source.index("-#}")]
    used = jinja2.meta.find_undeclared_variables(ENV.parse(source))
    assert used and all(f"  {var} " in header for var in used), (used, header)
