"""Container views from the engine's sparse list, what they reserve, and finding one by id or name (pure)."""

from __future__ import annotations

import pytest

from paasops.errors import ConflictError, ForbiddenError, NotFoundError, UserInputError
from paasops.service.containers import ContainerView, from_sparse, match_container, match_managed

ENTRY = {
    "Id": "0123456789abcdef", "Names": ["/web-1"], "Image": "hello", "State": "running", "Status": "Up 2 minutes",
    "Created": 1700000000,
    "Labels": {"paasops.app": "web", "paasops.deployment": "d1", "paasops.spec-hash": "h1",
               "paasops.cpus": "0.5", "paasops.memory-mb": "128", "paasops.host-ports": "8080"},
    # one port, listed once per address family
    "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
              {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
              {"PrivatePort": 81, "Type": "tcp"}],
}


def test_from_sparse_reads_the_labels_and_keeps_one_port_per_mapping():
    c = from_sparse("e1", ENTRY)
    assert (c.id, c.name, c.engine_id, c.image, c.state, c.created) == \
        ("0123456789abcdef", "web-1", "e1", "hello", "running", 1700000000.0)
    assert (c.app, c.deployment, c.spec_hash, c.cpus, c.memory_mb) == ("web", "d1", "h1", 0.5, 128)
    assert c.ports == [{"container": 80, "protocol": "tcp", "host_ip": "::", "host_port": 8080},
                       {"container": 81, "protocol": "tcp", "host_ip": "", "host_port": None}]
    assert c.reserving and c.host_ports == {8080}


def test_from_sparse_of_a_bare_entry():
    c = from_sparse("e1", {"Id": "fedcba9876543210"})
    assert (c.name, c.state, c.labels, c.ports, c.app) == ("fedcba987654", "", {}, [], None)
    assert not c.reserving  # no app label: not paasops's


@pytest.mark.parametrize("state, reserving, ports", [
    ("running", True, {8080, 9000}), ("created", True, {8080, 9000}), ("exited", False, {9000})])
def test_a_stopped_replica_frees_its_reservation_but_not_its_published_port(state, reserving, ports):
    c = ContainerView(id="x", name="x", engine_id="e", image="i", state=state,
                      labels={"paasops.app": "web", "paasops.host-ports": "8080"},
                      ports=[{"container": 80, "protocol": "tcp", "host_ip": "", "host_port": 9000}])
    assert (c.reserving, c.host_ports) == (reserving, ports)


VIEWS = [ContainerView(id=i, name=n, engine_id=e, image="i", state="running")
         for i, n, e in [("abc111", "web-1", "e1"), ("abc222", "web-2", "e2"), ("def333", "abc", "e1")]]


@pytest.mark.parametrize("prefix, found", [
    ("abc111", "abc111"), ("web-2", "abc222"), ("def", "def333"),
    ("abc", "def333"),  # a whole name wins over an id prefix
])
def test_match_container(prefix, found):
    assert match_container(prefix, VIEWS).id == found


def test_match_container_errors():
    with pytest.raises(ConflictError, match=r"id prefix 'abc' is ambiguous: abc111 \(web-1 on e1\), abc222 \(web-2 on e2\)"):
        match_container("abc", VIEWS[:2])
    with pytest.raises(NotFoundError, match="no container 'zz'"):
        match_container("zz", VIEWS)
    with pytest.raises(NotFoundError):
        match_container("ab", VIEWS[:2])  # too short to be a prefix
    with pytest.raises(UserInputError, match="empty container id"):
        match_container("", VIEWS)


MIXED = [ContainerView(id="aaa111", name="web-1", engine_id="e1", image="i", state="running",
                       labels={"paasops.app": "web"}),
         ContainerView(id="aaa222", name="etcd", engine_id="e1", image="i", state="running"),
         ContainerView(id="bbb333", name="web-2", engine_id="e2", image="i", state="running")]  # same name, no label


def test_match_managed_sees_only_paasops_containers():
    assert match_managed("aaa", MIXED).id == "aaa111"  # the unlabelled aaa222 does not make it ambiguous
    assert match_managed("web-1", MIXED).managed
    with pytest.raises(ForbiddenError, match=r"container etcd \(aaa222\) on e1 was not started by paasops"):
        match_managed("etcd", MIXED)
    with pytest.raises(ForbiddenError, match="not started by paasops"):
        match_managed("bbb", MIXED)
    with pytest.raises(NotFoundError, match="no container 'zz'"):
        match_managed("zz", MIXED)


def test_match_managed_with_foreign_sees_every_container():
    assert match_managed("etcd", MIXED, foreign=True).id == "aaa222"
    with pytest.raises(ConflictError, match="ambiguous"):
        match_managed("aaa", MIXED, foreign=True)
