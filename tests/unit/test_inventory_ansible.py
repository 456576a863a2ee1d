"""paasops reads inventories as Ansible does: compared with `ansible-inventory --list/--graph`
output recorded from the real tool (tests/unit/fixtures/inventory/record.sh re-records it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paasops.errors import InventoryError
from paasops.inventory import ansible_graph, ansible_list, load_inventory

FIXTURES = Path(__file__).parent / "fixtures" / "inventory"
RECORDED = FIXTURES / "recorded"
ROOT = Path(__file__).resolve().parents[2]
CASES = {"values": FIXTURES / "values.ini", "groups": FIXTURES / "groups.ini", "site": FIXTURES / "site",
         "example_ini": ROOT / "inventory" / "example.ini", "example_yml": ROOT / "inventory" / "example.yml"}


def recorded_list(name: str) -> dict:
    listed = json.loads((RECORDED / f"{name}.list.json").read_text())
    del listed["_meta"]["profile"]  # Ansible's name for its JSON encoder, nothing of the inventory
    return listed


@pytest.mark.parametrize("case", sorted(CASES))
def test_list_is_what_ansible_inventory_lists(case):
    assert ansible_list(load_inventory(CASES[case])) == recorded_list(case)


@pytest.mark.parametrize("case", sorted(CASES))
def test_graph_is_what_ansible_inventory_draws(case):
    assert ansible_graph(load_inventory(CASES[case])) == (RECORDED / f"{case}.graph.txt").read_text().rstrip("\n")


def test_list_of_a_pattern_is_ansible_limit():
    assert ansible_list(load_inventory(CASES["groups"]), "web") == recorded_list("groups.limit-web")


def test_graph_of_a_group():
    drawn = ansible_graph(load_inventory(CASES["groups"]), "prod")
    assert drawn == (RECORDED / "groups.prod.graph.txt").read_text().rstrip("\n")


def test_ini_booleans_are_the_strings_ansible_keeps():
    hostvars = recorded_list("values")["_meta"]["hostvars"]["web1"]
    assert (hostvars["flag_true"], hostvars["flag_yes"], hostvars["flag_no"]) == ("true", "yes", "no")
    web1 = load_inventory(CASES["values"]).hosts["web1"]
    assert (web1.vars["flag_true"], web1.vars["cap_true"], web1.vars["g_on"]) == ("true", True, "on")


def test_the_ini_and_yaml_examples_are_one_inventory():
    assert recorded_list("example_ini") == recorded_list("example_yml")
    assert ansible_list(load_inventory(CASES["example_ini"])) == ansible_list(load_inventory(CASES["example_yml"]))


@pytest.mark.parametrize("call", [lambda inv: ansible_list(inv, "wbe"), lambda inv: ansible_graph(inv, "wbe"),
                                  lambda inv: ansible_graph(inv, "web01")])
def test_a_name_that_is_no_group_is_an_error_naming_the_closest(call):
    with pytest.raises(InventoryError, match="did you mean group 'web'"):
        call(load_inventory(CASES["groups"]))
