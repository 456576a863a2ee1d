"""Where bootstrap finds what it ships: the playbook, its templates and the host agent."""

from __future__ import annotations

from paasops import bootstrap


def test_shipped_folders_hold_the_playbook_templates_and_agent():
    assert bootstrap.BOOTSTRAP_PLAYBOOK.is_file()
    assert (bootstrap.TEMPLATES_DIR / "daemon.json.j2").is_file()
    # bootstrap.yml copies the agent from ../bin, relative to its own folder, in a checkout and a wheel
    assert (bootstrap.PLAYBOOKS_DIR / ".." / "bin" / "paasops-register").is_file()
