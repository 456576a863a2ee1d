"""Agentless, Ansible-style automation: playbooks of idempotent modules run over connectors."""

from __future__ import annotations

from paasops.automation.playbook import Play, Playbook, Task, load_playbook, parse_playbook
from paasops.automation.recap import (
    Event,
    HostFinished,
    HostRecap,
    HostUnreachable,
    PlayStarted,
    RunFinished,
    RunReport,
    TaskFinished,
    TaskResult,
    TaskStarted,
)
from paasops.automation.runner import run_playbook

__all__ = [
    "Event", "HostFinished", "HostRecap", "HostUnreachable", "Play", "PlayStarted", "Playbook",
    "RunFinished", "RunReport", "Task", "TaskFinished", "TaskResult", "TaskStarted", "load_playbook",
    "parse_playbook", "run_playbook",
]
