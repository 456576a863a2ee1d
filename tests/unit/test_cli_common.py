"""The options and output helpers every command shares."""

from __future__ import annotations

import json

from rich.table import Table

from paasops.cli import common
from paasops.cli.common import OUTPUT, SERVER, Output, emit, output_option


def test_one_output_flag_with_each_familys_default_and_help():
    assert OUTPUT.param_decls == ("--output", "-o") and OUTPUT.default == Output.table
    recap = output_option("table", "table or json")
    assert recap.param_decls == OUTPUT.param_decls
    assert (recap.default, recap.help) == ("table", "table or json")
    assert SERVER.param_decls == ("--server",) and SERVER.default is None


def test_emit_json_is_the_answer_as_given(capsys):
    emit({"b": 1, "a": [1, 2]}, Output.json, lambda _: "not this")
    assert json.loads(capsys.readouterr().out) == {"b": 1, "a": [1, 2]}


def test_emit_table_prints_the_human_rendering(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    common.out.cache_clear()
    try:
        table = Table("NAME")
        table.add_row("hello")
        emit([{"name": "hello"}], Output.table, lambda rows: table)
        shown = capsys.readouterr().out
    finally:
        common.out.cache_clear()
    assert "NAME" in shown and "hello" in shown


def test_consoles_are_made_once():
    assert common.err() is common.err()
    assert common.err().stderr
