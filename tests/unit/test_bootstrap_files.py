"""Where bootstrap finds what it ships: the playbook, its templates and the host agent."""

from __future__ import annotations

from paasops import bootstrap


def test_shipped_folders_hold_the_playbook_templates_and_agent():
    assert bootstrap.BOOTSTRAP_PLAYBOOK.is_file()
    assert (bootstrap.TEMPLATES_DIR / "daemon.json.j2").is_file()
    # bootstrap.yml copies the agent from ../bin, relative to its own folder, in a checkout and a wheel
    assert (bootstrap.PLAYBOOKS_DIR / ".." / "bin" / "paasops-register").is_file()


def test_every_shipped_file_is_declared_package_data():
    """A file added to playbooks/ or templates/ that no package-data pattern names would be
    missing from the wheel (and bootstrap would fail only once installed)."""
    import fnmatch
    import tomllib

    root = bootstrap.PLAYBOOKS_DIR.parent
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for folder in ("playbooks", "templates"):
        for path in (root / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                name = path.relative_to(root / folder).as_posix()
                assert any(fnmatch.fnmatch(name, p) for p in patterns[f"paasops.{folder}"]), name
