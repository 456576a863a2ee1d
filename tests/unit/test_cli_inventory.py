"""`paasops inventory list|graph` print what the library computes, as ansible-inventory would."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from paasops.cli.commands.inventory import app

RECORDED = Path(__file__).parent / "fixtures" / "inventory" / "recorded"
GROUPS = str(Path(__file__).parent / "fixtures" / "inventory" / "groups.ini")


def test_list_prints_ansible_inventory_json():
    done = CliRunner().invoke(app, ["list", "-i", GROUPS])
    assert done.exit_code == 0, done.output
    expected = json.loads((RECORDED / "groups.list.json").read_text())
    del expected["_meta"]["profile"]
    assert json.loads(done.stdout) == expected


def test_graph_of_a_group_prints_the_tree():
    done = CliRunner().invoke(app, ["graph", "prod", "-i", GROUPS])
    assert done.exit_code == 0, done.output
    assert done.stdout == (RECORDED / "groups.prod.graph.txt").read_text()


def test_an_unknown_group_is_an_error_naming_the_closest():
    done = CliRunner().invoke(app, ["graph", "prd", "-i", GROUPS])
    assert done.exit_code != 0 and "did you mean group 'prod'" in done.output
