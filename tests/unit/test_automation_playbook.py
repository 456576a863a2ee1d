"""Playbook validation: every error names the file, the play, the task and the field."""

from __future__ import annotations

import textwrap

import pytest

from paasops.automation.playbook import load_playbook, parse_playbook
from paasops.errors import PlaybookError

HEAD = "- name: base\n  hosts: all\n  tasks:\n"
WHERE = "pb.yml: play 'base', task 't'"

# (tasks YAML, expected where, expected message)
TASK_ERRORS = [
    ("- name: t\n  pakage: {name: vim}", WHERE, "unknown module 'pakage' (did you mean 'package'?)"),
    ("- name: t\n  package: {name: vim, state: installed}", WHERE, "field 'state' must be one of present, absent"),
    ("- name: t\n  copy: {content: x}", WHERE, "missing required field 'dest'"),
    ("- name: t\n  copy: {dest: /x}", WHERE, "exactly one of fields 'src' and 'content' is required"),
    ("- name: t\n  file: {path: /x, stat: directory}", WHERE, "unknown field 'stat' for module 'file'"),
    ("- name: t\n  file: {path: /x, mode: rwx}", WHERE, "field 'mode' must be an octal mode like '0644'"),
    ("- name: t\n  package: {name: vim, update_cache: maybe}", WHERE, "field 'update_cache' must be a boolean"),
    ("- name: t\n  service: {name: docker}", WHERE,
     "one of fields 'state', 'enabled' or 'daemon_reload' is required"),
    ("- name: t\n  command: {creates: /x}", WHERE, "missing required field 'cmd'"),
    ("- name: t\n  wait_for: {timeout: 3}", WHERE, "exactly one of fields 'port' and 'path' is required"),
    ("- name: t\n  file: {path: /x}\n  copy: {content: a, dest: /y}", WHERE, "several modules in one task: 'file', 'copy'"),
    ("- name: t\n  file: {path: /x}\n  whne: x", WHERE, "unknown field 'whne'"),
    ("- name: t", WHERE, "no module given"),
    ("- name: t\n  file: {path: /x}\n  when: 'x ==='", WHERE, "field 'when': expression syntax error"),
    ("- name: t\n  file: {path: '{{ x'}", WHERE, "field 'path': template syntax error"),
    ("- name: t\n  file: {path: /x}\n  notify: restart it", WHERE, "field 'notify' names unknown handler 'restart it'"),
    ("- name: t\n  file: {path: /x}\n  ignore_errors: 'yes'", WHERE, "field 'ignore_errors' must be true or false"),
    ("- name: t\n  file: {path: /x}\n  register: 'my var'", WHERE, "field 'register' must be a variable name"),
    ("- file: {path: /x, state: dir}", "pb.yml: play 'base', task '#1'", "field 'state' must be one of file, directory"),
]


@pytest.mark.parametrize("tasks, where, message", TASK_ERRORS, ids=[m for _, _, m in TASK_ERRORS])
def test_task_errors_name_task_and_field(tasks, where, message):
    text = HEAD + textwrap.indent(tasks, "    ")
    with pytest.raises(PlaybookError) as err:
        parse_playbook(text, "pb.yml")
    assert err.value.where == where
    assert str(err.value).startswith(f"{where}: {message}")


@pytest.mark.parametrize("text, message", [
    ("- name: p\n  tasks: []", "pb.yml: play 'p': missing required field 'hosts'"),
    ("- name: p\n  hosts: all\n  serial: 2", "pb.yml: play 'p': unknown field 'serial'"),
    ("- name: p\n  hosts: all\n  become: sometimes", "pb.yml: play 'p': field 'become' must be true or false"),
    ("{}", "pb.yml: a playbook is a non-empty list of plays"),
    ("- name: p\n  hosts: [all\n", "pb.yml:3: invalid YAML"),
])
def test_play_errors(text, message):
    with pytest.raises(PlaybookError) as err:
        parse_playbook(text, "pb.yml")
    assert str(err.value).startswith(message)


def test_parses_keywords_and_free_form(tmp_path):
    path = tmp_path / "site.yml"
    path.write_text(textwrap.dedent("""\
        - name: web
          hosts: web:db
          become: true
          vars: {port: 80}
          tasks:
            - name: marker
              command: touch /tmp/m
              args: {creates: /tmp/m}
              register: out
              changed_when: "out.rc == 0"
              when: [facts.distribution.family == 'debian', port > 10]
              tags: setup
              notify: [reload]
            - ansible.builtin.file: {path: /srv, state: directory, mode: 0755}
              loop: "{{ dirs }}"
          handlers:
            - name: reload
              service: {name: nginx, state: restarted}
        """))
    pb = load_playbook(path)
    play = pb.plays[0]
    assert play.hosts == ("web", "db") and play.become and play.vars == {"port": 80}
    marker, srv = play.tasks
    assert marker.module == "command" and marker.args["cmd"] == "touch /tmp/m"
    assert marker.args["creates"] == "/tmp/m" and marker.register == "out"
    assert marker.when == ("facts.distribution.family == 'debian'", "port > 10")
    assert marker.tags == {"setup"} and marker.notify == ("reload",)
    assert srv.module == "file" and srv.args["mode"] == 0o755 and srv.name == "file #2"
    assert play.handlers[0].name == "reload"


def test_templated_values_are_checked_at_run_time_not_load_time():
    pb = parse_playbook(HEAD + "    - name: t\n      package: {name: vim, state: '{{ wanted }}'}\n", "pb.yml")
    assert pb.plays[0].tasks[0].args["state"] == "{{ wanted }}"


def test_missing_file_is_a_playbook_error(tmp_path):
    with pytest.raises(PlaybookError, match="cannot read playbook"):
        load_playbook(tmp_path / "nope.yml")
