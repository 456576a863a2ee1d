"""The CLI's commands, one module per job, and the table the `paasops` group lists them from without importing them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """Where a top-level command lives and the line `paasops --help` shows for it."""

    module: str  # under paasops.cli.commands; it defines `app`, a typer.Typer
    help: str  # the first paragraph of the command's help, exactly (a test compares them)
    group: bool = False  # the module's whole `app` is this command (a group: `paasops hosts list` …)


# In the order `paasops --help` lists them.
COMMANDS: dict[str, Entry] = {
    "bootstrap": Entry("automation", "Turn bare Debian/Ubuntu servers into TLS-secured Docker hosts registered "
                                     "in etcd."),
    "verify": Entry("automation", "Check bootstrapped hosts: Docker running, API over mutual TLS (and refused "
                                  "without a\nclient cert or without TLS), registration agent running, engine key "
                                  "present in etcd."),
    "play": Entry("automation", "Run any playbook on hosts (what bootstrap does with playbooks/bootstrap.yml)."),
    "patch": Entry("patch", "Patch hosts one batch at a time: drain (start-first), run the playbook, wait until "
                            "healthy, undrain."),
    "inventory": Entry("inventory", "Show what an Ansible-style inventory resolves to (like ansible-inventory).",
                       group=True),
    "serve": Entry("serve", "Run the scheduler/monitor service and its HTTP API (logs go to stderr)."),
    "deploy": Entry("apps", "Place and start an app's replicas across the engines (a changed spec replaces the "
                            "old replicas)."),
    "scale": Entry("apps", "Run COUNT identical replicas of APP (scaling down takes from the most loaded hosts "
                           "first)."),
    "rollback": Entry("apps", "Deploy an earlier release of APP again (default: the one before the current), "
                              "through a normal deploy."),
    "apps": Entry("apps", "Deployed apps: desired versus running replicas."),
    "routes": Entry("routes", "Hostnames and ports of exposed apps → their backends (ready or drain), and what each "
                              "edge serves."),
    "ps": Entry("containers", "Containers on every engine (running ones unless --all)."),
    "inspect": Entry("containers", "One container in detail (--output json adds the engine's full inspect)."),
    "logs": Entry("containers", 'A container\'s stdout and stderr (-o json: one {"container", "text"} object '
                                "per chunk)."),
    "start": Entry("containers", "Start a container (by id, unique id prefix or name)."),
    "stop": Entry("containers", "Stop a container (by id, unique id prefix or name)."),
    "restart": Entry("containers", "Restart a container (by id, unique id prefix or name)."),
    "rm": Entry("containers", "Destroy containers (kill, then remove); every id is tried, failures are listed "
                              "at the end."),
    "events": Entry("events", "What happened, newest first: API operations, Docker events, host health."),
    "plan": Entry("plan", "Show where replicas would go if hosts were lost, drained or added; nothing is changed."),
    "rebalance": Entry("rebalance", "Move replicas where placement would put them today (e.g. after a host came "
                                    "back empty or joined)."),
    "reconcile": Entry("ops", "Converge the engines on the desired state: re-create missing replicas, remove "
                              "duplicates (most\nloaded hosts first), orphans (unknown app or old spec) and dead "
                              "containers. Only containers\nlabelled paasops.app are touched. The service runs "
                              "one reconcile at a time."),
    "report": Entry("ops", "Capacity and utilisation per host, replicas per app versus desired, hosts down, the "
                           "last day's events."),
    "login": Entry("session", "Log in to the service; the token is kept in your config dir (mode 0600) for the "
                              "other commands."),
    "logout": Entry("session", "Revoke your token on the service and forget it here."),
    "passwd": Entry("session", "Change your own password (your other sessions are logged out)."),
    "lab": Entry("lab", "Local lab hosts (Debian containers with sshd and systemd) to try paasops on.", group=True),
    "hosts": Entry("hosts", "Docker engines the service places on: list, add by hand, inspect, remove, drain, "
                            "cordon, undrain.", group=True),
    "cluster": Entry("cluster", "The cluster as a whole.", group=True),
    "accounts": Entry("accounts", "Accounts of the service (admins): list, add, update teams, remove, set passwords.",
                      group=True),
    "tokens": Entry("tokens", "API tokens for jobs (cron, timers, CI): create, list, revoke.", group=True),
    "certs": Entry("certs", "TLS certificates the edges serve for app hostnames (admins): issue, add, list, remove.",
                   group=True),
}
