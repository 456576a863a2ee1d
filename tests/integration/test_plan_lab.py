"""`paasops plan --lose` and the report's N-1 on the lab: lab3 holds 5 of web's 8 replicas; each goes where the naive
reference places it (on hosts read from the engines themselves); an app too big to survive is named as stranded."""

from __future__ import annotations

import json

import pytest
from lab_support import paasops
from test_service_lab import service  # noqa: F401  (the module's `paasops serve` on the lab)

from paasops.engines.client import make_client
from paasops.placement import HostSnapshot, Request
from paasops.placement.reference import naive_place

pytestmark = pytest.mark.integration

HTTPD = 'image: paasops/hello:latest\ncommand: ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
WEB = "name: wi-web\n" + HTTPD + "cpus: 0.1\nmemory: 64m\n"  # thesis on empty lab1/2/3: 2, 1 and 5 replicas
BIG = "name: wi-big\n" + HTTPD + "memory: 4000m\n"  # only lab3 has 4000 MB free (lab1: 4096 - 2 x 64 = 3968)


def deploy(env: dict, tmp_path, text: str, count: int) -> None:
    app_yml = tmp_path / (text.split("\n", 1)[0].split()[1] + ".yml")
    app_yml.write_text(text)
    done = paasops("deploy", str(app_yml), "--count", str(count), "-o", "json", env=env)
    assert done.returncode == 0, done.stderr


def engine_hosts(lab, pki_dir) -> list[HostSnapshot]:
    """The lab's hosts as the engines show them (not as paasops does): capacity declared by the lab, reservations
    and replicas counted from the paasops containers each engine runs."""
    hosts = []
    for h in lab.hosts():
        client = make_client(h.address, 2376, pki_dir=pki_dir, timeout=10)
        try:
            listed = client.api.containers(filters={"label": "paasops.app", "status": "running"})
        finally:
            client.close()
        replicas: dict[str, int] = {}
        for c in listed:
            replicas[c["Labels"]["paasops.app"]] = replicas.get(c["Labels"]["paasops.app"], 0) + 1
        hosts.append(HostSnapshot(
            id=h.name, total_cpu=h.cpus, total_mem_mb=h.memory_mb, replicas=replicas,
            reserved_cpu=sum(float(c["Labels"].get("paasops.cpus") or 0) for c in listed),
            reserved_mem_mb=sum(int(c["Labels"].get("paasops.memory-mb") or 0) for c in listed)))
    return hosts


def plan_lose(env: dict, host: str) -> tuple[int, dict]:
    done = paasops("plan", "--lose", host, "-o", "json", env=env)
    assert done.returncode in (0, 3), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_plan_lose_lists_where_each_replica_goes_and_names_what_is_stranded(service, pki_dir, tmp_path):  # noqa: F811
    api, env, lab = service
    deploy(env, tmp_path, WEB, 8)
    hosts = engine_hosts(lab, pki_dir)
    assert {h.id: h.replicas.get("wi-web", 0) for h in hosts} == {"lab1": 2, "lab2": 1, "lab3": 5}

    code, plan = plan_lose(env, "lab3")
    assert code == 0 and plan["complete"] and plan["lose"] == ["lab3"]
    [web] = plan["apps"]
    others = [h for h in hosts if h.id != "lab3"]
    expected = [a.host_id for a in naive_place(others, Request("wi-web", cpus=0.1, memory_mb=64), 5).assignments]
    assert [(m["from_host"], m["host"]) for m in web["moves"]] == [("lab3", host) for host in expected]
    rows = {r["host"]: r for r in web["explanation"]}
    assert rows["lab3"]["filter"] == "healthy" and rows["lab1"]["status"] == "fits"  # why each host won or not
    report = json.loads(paasops("report", "-o", "json", env=env, check=True).stdout)["headroom"]
    assert report["survives"] and {x["host"] for x in report["losses"]} == {"lab1", "lab2", "lab3"}

    deploy(env, tmp_path, BIG, 1)
    hosts = engine_hosts(lab, pki_dir)
    assert next(h for h in hosts if h.id == "lab3").replicas.get("wi-big") == 1
    code, plan = plan_lose(env, "lab3")
    apps = {a["app"]: a for a in plan["apps"]}
    assert code == 3 and not plan["complete"] and plan["stranded"] == 1
    assert (apps["wi-big"]["placed"], apps["wi-big"]["stranded"]) == (0, 1)
    assert "memory: needs 4000 MB, 3968 MB free" in apps["wi-big"]["why"]
    assert apps["wi-web"]["placed"] == 5 and "wi-big (1)" in plan["message"]
    table = paasops("plan", "--lose", "lab3", env={**env, "COLUMNS": "200"})
    assert table.returncode == 3 and "would not fit" in table.stdout and "lab3" in table.stdout

    room = json.loads(paasops("report", "-o", "json", env=env, check=True).stdout)["headroom"]
    losses = {x["host"]: x for x in room["losses"]}
    assert not room["survives"] and losses["lab3"]["stranded"] == {"wi-big": 1}
    assert losses["lab1"]["survives"] and losses["lab2"]["survives"]
    bad = paasops("plan", "--lose", "lab7", env=env)
    assert bad.returncode == 2 and "no host 'lab7'" in bad.stderr
