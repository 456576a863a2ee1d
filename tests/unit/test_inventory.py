"""Inventory parsing as tables: INI and YAML text in, hosts with merged vars out."""

from __future__ import annotations

import pytest

from paasops.errors import InventoryError
from paasops.inventory import (
    Inventory,
    expand_range,
    load_inventory,
    parse_ini,
    parse_inventory,
    parse_value,
    parse_yaml,
    split_port,
    to_bool,
)


def host_view(inv: Inventory, name: str) -> dict:
    h = inv.hosts[name]
    return {"address": h.address, "port": h.port, "user": h.user, "key_file": h.key_file,
            "groups": h.groups, "become": h.become, **{f"var:{k}": v for k, v in h.vars.items()}}


def subset(view: dict, expected: dict) -> dict:
    return {k: view.get(k, "<absent>") for k in expected}


@pytest.mark.parametrize("raw, value", [
    ("42", 42), ("-3", -3), ("1.5", 1.5), ("010", "010"),  # 010 is not a Python literal
    # as `ansible-inventory --list` types them: only Python's True/False are booleans
    ("true", "true"), ("False", False), ("yes", "yes"), ("NO", "NO"), ("True", True),
    ("'quoted string'", "quoted string"), ('"x y"', "x y"), ("plain words", "plain words"),
    ("[1, 'a']", [1, "a"]), ("{'k': 1}", {"k": 1}), ("(1, 2)", [1, 2]), ("None", None),
    ("1j", "1j"), ("...", "..."), ("/usr/bin/python3", "/usr/bin/python3"), ("", ""),
])
def test_parse_value(raw, value):
    assert parse_value(raw) == value


@pytest.mark.parametrize("pattern, expected", [
    ("web1", ("web1", None)),
    ("web1:2222", ("web1", 2222)),
    ("10.0.0.1:22", ("10.0.0.1", 22)),
    ("web[01:03]", ("web[01:03]", None)),
    ("web[01:03]:2200", ("web[01:03]", 2200)),
    ("::1", ("::1", None)),
    ("fe80::1:2", ("fe80::1:2", None)),  # bare IPv6: never a port
    ("[::1]:2222", ("::1", 2222)),
    ("[fe80::1]", ("fe80::1", None)),
])
def test_split_port(pattern, expected):
    assert split_port(pattern) == expected


@pytest.mark.parametrize("pattern", ["web1:", "web1:ssh", "web1:0", "web1:70000", "web[1:2", ":22"])
def test_split_port_errors(pattern):
    with pytest.raises(ValueError):
        split_port(pattern)


@pytest.mark.parametrize("pattern, names", [
    ("web", ["web"]),
    ("web[1:3]", ["web1", "web2", "web3"]),
    ("web[01:03].lan", ["web01.lan", "web02.lan", "web03.lan"]),
    ("n[0:10:5]", ["n0", "n5", "n10"]),
    ("db-[a:c]", ["db-a", "db-b", "db-c"]),
    ("r[1:2]u[a:b]", ["r1ua", "r1ub", "r2ua", "r2ub"]),
    ("[:2]x", ["0x", "1x", "2x"]),
])
def test_expand_range(pattern, names):
    assert expand_range(pattern) == names


@pytest.mark.parametrize("pattern", ["w[3:1]", "w[01:3]", "w[1:]", "w[1:2:0]", "w[1:2:3:4]", "w[a:9]"])
def test_expand_range_errors(pattern):
    with pytest.raises(ValueError, match="invalid host range"):
        expand_range(pattern)


INI = """\
# a comment, then a host before any section: ungrouped
lonely ansible_host=10.0.0.9
; another comment
[web]
web[01:02]:2222 ansible_user=deploy   # inline comment
db1 ansible_host="10.0.0.5" ansible_become=yes x=1 y='a b' z=[1,2] ansible_ssh_private_key_file=keys/db

[web:vars]
http_port=80
role=web

[app:children]
web

[app:vars]
role=app
level = 3
ansible_user=appuser

[zzz]
db1

[zzz:vars]
role=zzz

[all:vars]
role=all
ansible_user=admin
ntp = "pool.ntp.org"
"""


@pytest.mark.parametrize("name, expected", [
    # ungrouped: only `all` vars apply
    ("lonely", {"address": "10.0.0.9", "port": 22, "user": "admin", "groups": ["ungrouped"],
                "var:role": "all", "var:ntp": "pool.ntp.org"}),
    # host:port and inline ansible_user beat every group var; web (child of app) beats app
    ("web01", {"address": "web01", "port": 2222, "user": "deploy", "groups": ["app", "web"],
               "var:role": "web", "var:level": 3, "var:http_port": 80}),
    ("web02", {"port": 2222, "user": "deploy"}),
    # app's user (depth 1) beats all's (depth 0); web (depth 2) beats zzz (depth 1)
    ("db1", {"address": "10.0.0.5", "user": "appuser", "groups": ["app", "web", "zzz"],
             "var:role": "web", "var:ansible_become": "yes", "become": True, "var:x": 1, "var:y": "a b",
             "var:z": [1, 2], "key_file": "/inv/keys/db"}),
])
def test_ini_hosts_and_precedence(name, expected):
    inv = parse_ini(INI, "hosts.ini", base_dir="/inv")
    assert subset(host_view(inv, name), expected) == expected


def test_ini_groups_and_become():
    inv = parse_ini(INI, "hosts.ini")
    assert list(inv.hosts) == ["lonely", "web01", "web02", "db1"]
    assert inv.groups["web"].hosts == ["web01", "web02", "db1"]
    assert inv.groups["app"].children == ["web"]
    assert inv.groups["ungrouped"].hosts == ["lonely"]
    assert [h.name for h in inv.group_hosts("app")] == ["web01", "web02", "db1"]
    assert inv.hosts["db1"].become and not inv.hosts["web01"].become


@pytest.mark.parametrize("text, name, expected", [
    # siblings at the same depth merge by name, the later name wins ...
    ("[a]\nh\n[b]\nh\n[a:vars]\nv=a\n[b:vars]\nv=b\n", "h", "b"),
    # ... unless ansible_group_priority says otherwise
    ("[a]\nh\n[b]\nh\n[a:vars]\nv=a\nansible_group_priority=5\n[b:vars]\nv=b\n", "h", "a"),
    # a grandchild beats its grandparent even when the parent has no value
    ("[top:children]\nmid\n[mid:children]\nleaf\n[leaf]\nh\n[top:vars]\nv=top\n[leaf:vars]\nv=leaf\n",
     "h", "leaf"),
    # the host's own value beats everything
    ("[g]\nh v=host\n[g:vars]\nv=group\n[all:vars]\nv=all\n", "h", "host"),
    # a later line for the same host adds to (and overrides) its vars
    ("[g]\nh v=1\n[k]\nh v=2\n", "h", 2),
    # ansible_port beats a host:port given earlier
    ("h:2200 v=x ansible_port=2300\n", "h", "x"),
])
def test_ini_precedence_table(text, name, expected):
    assert parse_ini(text).hosts[name].vars["v"] == expected


def test_port_sources():
    inv = parse_ini("a:2200\nb ansible_port=2300\nc\nd:2200 ansible_port=2400\n[all:vars]\nansible_port=2500\n")
    assert {n: h.port for n, h in inv.hosts.items()} == {"a": 2200, "b": 2300, "c": 2500, "d": 2400}


def test_ipv6_and_ranges_in_ini():
    inv = parse_ini("[v6]\n[::1]:2222\nfe80::5\n[r]\nn[1:2]-x ansible_user=u\n")
    assert (inv.hosts["::1"].port, inv.hosts["fe80::5"].port) == (2222, 22)
    assert [h.name for h in inv.group_hosts("r")] == ["n1-x", "n2-x"]


def test_children_declared_before_the_child_section():
    inv = parse_ini("[prod:children]\ndb\n[db]\npg1\n[prod:vars]\nenv=prod\n")
    assert inv.hosts["pg1"].vars["env"] == "prod"
    assert inv.hosts["pg1"].groups == ["db", "prod"]


def test_a_host_in_ungrouped_and_a_group_is_not_ungrouped():
    inv = parse_ini("h1\nh2\n[g]\nh1\n")
    assert inv.groups["ungrouped"].hosts == ["h2"]
    assert inv.hosts["h1"].groups == ["g"]


@pytest.mark.parametrize("text, line, message", [
    ("[web\nx\n", 1, "unbalanced brackets"),
    ("ok\n[web:foo]\n", 2, "section [web:foo] has unknown type 'foo'"),
    ("[web server]\n", 1, "invalid section header '[web server]'"),
    ("\n\n[a:vars]\nx=1\n", 3, "section [a:vars] is for undefined group 'a'"),
    ("[a:children]\nb\n[a]\n", 2, "[a:children] names undefined group 'b'"),
    ("[a:children]\nb c\n", 2, "expected a group name in [a:children], got 'b c'"),
    ("[a]\nh1 foo\n", 2, "expected key=value host variable, got 'foo'"),
    ("[a]\nh1:abc\n", 2, "invalid port 'abc'"),
    ("[a]\n\nh1:\n", 3, "invalid port ''"),
    ("[a]\nh1 v='x\n", 2, "No closing quotation"),
    ("[a]\nweb[3:1]\n", 2, "invalid host range [3:1]"),
    ("[a]\nh\n[a:vars]\nnoeq\n", 4, "expected key=value in [a:vars], got 'noeq'"),
    ("[a]\nx=1\n", 2, "expected a host name before the variables, got 'x=1'"),
    ("[a:children]\na\n", 2, "group 'a' cannot be a child of 'a'"),
    ("[a]\nh ansible_port=ssh\n", 2, "host h: ansible_port must be a port number, got 'ssh'"),
])
def test_ini_errors_name_the_line(text, line, message):
    with pytest.raises(InventoryError) as exc:
        parse_ini(text, "inv/hosts")
    assert exc.value.where == f"inv/hosts:{line}"
    assert message in str(exc.value)


def test_ini_group_cycle_is_an_error():
    with pytest.raises(InventoryError, match="groups form a cycle: a -> b -> a"):
        parse_ini("[a:children]\nb\n[b:children]\na\n")


YAML = """\
all:
  vars:
    role: all
    ansible_user: admin
  hosts:
    solo:
  children:
    web:
      vars: {role: web, http_port: 80}
      hosts:
        web1:2201:
        web2:
          ansible_host: 10.1.1.2
          ansible_ssh_private_key_file: keys/id
          ansible_become: yes
        edge[1:2]:
      children:
        canary:
          hosts: web2
          vars: {role: canary}
    db:
      hosts:
        pg1: {ansible_port: 2202, role: primary}
"""


@pytest.mark.parametrize("name, expected", [
    ("solo", {"address": "solo", "port": 22, "user": "admin", "groups": ["ungrouped"], "var:role": "all"}),
    ("web1", {"port": 2201, "groups": ["web"], "var:role": "web", "var:http_port": 80}),
    ("web2", {"address": "10.1.1.2", "key_file": "/inv/keys/id", "groups": ["canary", "web"],
              "var:role": "canary", "var:ansible_become": True}),
    ("edge2", {"address": "edge2", "groups": ["web"]}),
    ("pg1", {"port": 2202, "groups": ["db"], "var:role": "primary"}),
])
def test_yaml_hosts_and_precedence(name, expected):
    inv = parse_yaml(YAML, "hosts.yml", base_dir="/inv")
    assert subset(host_view(inv, name), expected) == expected


def test_yaml_top_level_groups_besides_all():
    inv = parse_yaml("web:\n  hosts:\n    w1:\ndb:\n  hosts: {d1: }\n  vars: {x: 1}\n")
    assert [h.name for h in inv.resolve(["all"])] == ["w1", "d1"]
    assert inv.hosts["d1"].vars == {"x": 1}


def test_yaml_merge_keys_and_empty_group():
    inv = parse_yaml("all:\n  children:\n    empty:\n    g:\n      vars:\n        <<: {a: 1}\n"
                     "        b: 2\n      hosts: {h: }\n")
    assert inv.hosts["h"].vars == {"a": 1, "b": 2}
    assert inv.group_hosts("empty") == []


def test_ini_and_yaml_forms_agree():
    ini = parse_ini("[web]\nw1:2222 ansible_user=u\n[web:vars]\nk=v\n[all:vars]\na=1\n")
    yml = parse_yaml("all:\n  vars: {a: 1}\n  children:\n    web:\n      vars: {k: v}\n"
                     "      hosts:\n        w1:2222: {ansible_user: u}\n")
    assert ini.hosts == yml.hosts


@pytest.mark.parametrize("text, line, message", [
    ("all:\n  hosts:\n    - a\n", 2, "all.hosts: expected a mapping, got a list"),
    ("all:\n  host:\n    a:\n", 2, "all.host: unknown key; a group has only hosts, children and vars"),
    ("all:\n  children:\n    web:\n      hosts:\n        a: 3\n", 5,
     "all.children.web.hosts.a: host variables must be a mapping, got 3"),
    ("all:\n  children:\n    web: [a, b]\n", 3, "all.children.web: expected a mapping of hosts, "
     "children and vars, got a list"),
    ("all:\n  vars: [1]\n", 2, "all.vars: expected a mapping, got a list"),
    ("all:\n  children:\n    web:\n      hosts:\n        'a:x':\n", 5, "invalid port 'x'"),
    ("all: [\n", 2, "not valid YAML"),
    ("- a\n", 1, "top level: expected a mapping of groups, got a list"),
    ("all:\n  hosts:\n    a:\n      ansible_port: abc\n", 3,
     "host a: ansible_port must be a port number, got 'abc'"),
])
def test_yaml_errors_name_the_key_path_and_line(text, line, message):
    with pytest.raises(InventoryError) as exc:
        parse_yaml(text, "inv.yml")
    assert exc.value.where == f"inv.yml:{line}"
    assert message in str(exc.value)


@pytest.mark.parametrize("source, text, is_yaml", [
    ("hosts.yml", "", True),
    ("hosts.ini", "[web]\nw1\n", False),
    ("hosts", "# comment\nall:\n  hosts: {w1: }\n", True),
    ("hosts", "---\nall: {hosts: {w1: }}\n", True),
    ("hosts", "w1:2222\n", False),
    ("hosts", "[web]\nw1\n", False),
    ("hosts", "w1 ansible_host=a\n", False),
])
def test_format_detection(source, text, is_yaml):
    inv = parse_inventory(text, source)
    assert ("w1" in inv.hosts) == bool(text) and inv.source == source
    if "w1:2222" in text:
        assert inv.hosts["w1"].port == 2222


@pytest.mark.parametrize("patterns, names", [
    (["web01"], ["web01"]),
    (["web"], ["web01", "web02", "db1"]),
    (["all"], ["lonely", "web01", "web02", "db1"]),
    (["ungrouped", "zzz"], ["lonely", "db1"]),
    (["web*"], ["web01", "web02", "db1"]),  # web01, web02, and the group web
    (["web01", "web", "db1"], ["web01", "web02", "db1"]),  # each host once, in order
    (["10.9.9.9"], ["10.9.9.9"]),
])
def test_resolve_names(patterns, names):
    assert [h.name for h in parse_ini(INI).resolve(patterns)] == names


@pytest.mark.parametrize("pattern, name, address, port, user", [
    ("10.9.9.9", "10.9.9.9", "10.9.9.9", 22, "admin"),  # unknown names get the `all` vars
    ("ops@10.9.9.9:2200", "ops@10.9.9.9:2200", "10.9.9.9", 2200, "ops"),
    ("ops@[::1]:2200", "ops@[::1]:2200", "::1", 2200, "ops"),
    ("new.example.com", "new.example.com", "new.example.com", 22, "admin"),
    ("root@web01", "web01", "web01", 2222, "root"),  # a known host, its user overridden
    ("db1:2022", "db1", "10.0.0.5", 2022, "appuser"),  # a known host, its port overridden
])
def test_resolve_addresses(pattern, name, address, port, user):
    [h] = parse_ini(INI).resolve([pattern])
    assert (h.name, h.address, h.port, h.user) == (name, address, port, user)


def test_empty_inventory_takes_everything_as_an_address():
    for inv in (Inventory(), load_inventory(None), parse_ini(""), parse_yaml("")):
        [h] = inv.resolve(["deploy@10.0.0.7:2022"])
        assert (h.address, h.port, h.user, h.vars["ansible_host"], h.groups) == ("10.0.0.7", 2022,
                                                                                  "deploy", "10.0.0.7", [])
        assert len(inv) == 0 and inv.resolve(["h1"])[0].address == "h1"


@pytest.mark.parametrize("pattern, message", [
    ("nomatch*", "pattern 'nomatch*' matches no host or group"),
    ("h:port", "invalid port 'port'"),
    ("", "empty host name"),
])
def test_resolve_errors(pattern, message):
    with pytest.raises(InventoryError, match=message.replace("*", r"\*")):
        parse_ini("h1\n").resolve([pattern])


def test_load_inventory_resolves_key_files_against_its_directory(tmp_path):
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "hosts").write_text(
        "[web]\nw1 ansible_ssh_private_key_file=keys/w1\nw2 ansible_ssh_private_key_file=/abs/k\n"
        "w3 ansible_ssh_private_key_file=~/k\n")
    inv = load_inventory(tmp_path / "inv" / "hosts")
    assert inv.hosts["w1"].key_file == str(tmp_path / "inv" / "keys" / "w1")
    assert inv.hosts["w2"].key_file == "/abs/k"
    assert not inv.hosts["w3"].key_file.startswith("~")


def test_load_inventory_reads_group_vars_and_host_vars(tmp_path):
    (tmp_path / "hosts.ini").write_text("[web]\nw1 inline=host\nw2\n[web:vars]\nfrom_ini=web\n"
                                        "[all:vars]\nfrom_ini_all=all\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text("layer: group_vars/all\nfrom_ini: gv-all\n")
    (tmp_path / "group_vars" / "web").mkdir()
    (tmp_path / "group_vars" / "web" / "main.yaml").write_text("layer: group_vars/web\n")
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "w1.yml").write_text("layer: host_vars/w1\ninline: host_vars\n")
    inv = load_inventory(tmp_path / "hosts.ini")
    w1, w2 = inv.hosts["w1"].vars, inv.hosts["w2"].vars
    # Ansible: inventory group vars < group_vars/all < group_vars/* < inline host vars < host_vars/*
    assert (w1["layer"], w1["inline"], w1["from_ini"], w1["from_ini_all"]) == (
        "host_vars/w1", "host_vars", "gv-all", "all")
    assert w2["layer"] == "group_vars/web"
    assert inv.all_vars["layer"] == "group_vars/all"


def test_load_inventory_directory_merges_files(tmp_path):
    (tmp_path / "10-web.ini").write_text("[web]\nw1\n")
    (tmp_path / "20-db.yml").write_text("db:\n  hosts: {d1: }\n  children: {web: }\n")
    (tmp_path / "README.md").write_text("not an inventory")
    inv = load_inventory(tmp_path)
    assert list(inv.hosts) == ["w1", "d1"] and inv.hosts["w1"].groups == ["db", "web"]


def test_load_inventory_errors(tmp_path):
    with pytest.raises(InventoryError, match="no such inventory file") as exc:
        load_inventory(tmp_path / "missing")
    assert exc.value.where == str(tmp_path / "missing")
    assert len(load_inventory(tmp_path / "missing", missing_ok=True)) == 0
    (tmp_path / "bad").write_text("[web]\nw1\nw2 oops\n")
    with pytest.raises(InventoryError) as exc:
        load_inventory(tmp_path / "bad")
    assert exc.value.where == f"{tmp_path / 'bad'}:3"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "ec2.py").write_text("#!/usr/bin/env python3\n")
    with pytest.raises(InventoryError, match="dynamic inventory scripts are not supported"):
        load_inventory(tmp_path / "d")


# -- a name that is neither a host nor a group: a warning naming the closest group, as Ansible warns --

WARN_INI = "[web]\nweb01\n[db]\ndb01\n[prod:children]\nweb\ndb\n"


@pytest.mark.parametrize("patterns, warned", [
    (["web", "db01", "prod", "web*"], []),                      # a group, a host, a parent group, a glob
    (["10.0.0.7", "admin@10.0.0.8:2222", "web01:2200"], []),    # plain addresses; an inventory host with a port
    (["wbe"], [("'wbe' is neither a host nor a group in hosts.ini, so it is taken as an address; "
                "did you mean group 'web'?")]),
    (["admin@prd"], [("'admin@prd' is neither a host nor a group in hosts.ini, so it is taken as an address; "
                      "did you mean group 'prod'?")]),
    (["zzzzzz"], [("'zzzzzz' is neither a host nor a group in hosts.ini, so it is taken as an address; "
                   "its groups are all, web, db, prod")]),
])
def test_warnings_for_names_not_in_the_inventory(patterns, warned):
    inv = parse_ini(WARN_INI, "hosts.ini")
    assert inv.warnings_for(patterns) == warned
    assert len(inv.resolve(patterns)) >= 1  # still taken as given: a warning, not an error


def test_no_inventory_means_every_name_is_an_address_without_warning():
    assert Inventory().warnings_for(["wbe", "lab1"]) == []


def test_match_is_hosts_groups_and_globs_only():
    inv = parse_ini(WARN_INI, "hosts.ini")
    assert [h.name for h in inv.match("prod")] == ["web01", "db01"]
    assert [h.name for h in inv.match("*01")] == ["web01", "db01"]
    assert inv.match("wbe") is None and inv.match("nomatch*") is None
    assert inv.closest_group("dbb") == "db" and inv.closest_group("qqqq") is None


@pytest.mark.parametrize("value, truth", [("yes", True), ("Y", True), ("on", True), ("true", True), ("t", True),
                                          ("1", True), (True, True), (1, True), ("no", False), ("false", False),
                                          ("off", False), ("0", False), ("", False), (False, False), (0, False)])
def test_to_bool_is_ansible_truthiness(value, truth):
    assert to_bool(value) is truth
