"""Ansible-compatible inventories (INI and YAML) parsed into hosts with their merged variables."""

from __future__ import annotations

from .listing import ansible_graph, ansible_list
from .load import load_inventory, parse_ini, parse_inventory, parse_yaml
from .model import Group, Host, Inventory
from .values import expand_range, parse_value, split_port, to_bool

__all__ = ["Group", "Host", "Inventory", "ansible_graph", "ansible_list", "expand_range", "load_inventory",
           "parse_ini", "parse_inventory", "parse_value", "parse_yaml", "split_port", "to_bool"]
