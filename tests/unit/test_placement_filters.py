"""Each feasibility filter: None when the host fits, otherwise the reason shown to the user."""

import pytest

from paasops.errors import SpecError
from paasops.placement import HostSnapshot, Request
from paasops.placement.filters import FILTERS, constraints, first_rejection, healthy, ports, resources
from paasops.placement.labels import parse


def host(**kw):
    base = dict(id="node1", total_cpu=4.0, total_mem_mb=8192)
    base.update(kw)
    return HostSnapshot(**base)


def req(**kw):
    return Request("web", **kw)


def test_filters_run_cheapest_first():
    assert [f.NAME for f in FILTERS] == ["schedulable", "healthy", "constraints", "resources", "ports"]


@pytest.mark.parametrize(
    "kw, reason",
    [
        (dict(healthy=True), None),
        (dict(healthy=False, status="down"), "unhealthy (down)"),
        (dict(healthy=False, status="degraded"), "unhealthy (degraded)"),
        (dict(healthy=False, status=""), "unhealthy"),
    ],
)
def test_healthy(kw, reason):
    assert healthy.check(host(**kw), req()) == reason


@pytest.mark.parametrize(
    "kw, request_kw, reason",
    [
        # 1.5 + 0.5 <= 4 and 2048 + 512 <= 8192
        (dict(reserved_cpu=1.5, reserved_mem_mb=2048), dict(cpus=0.5, memory_mb=512), None),
        # exactly full fits: 3.5 + 0.5 = 4, 7680 + 512 = 8192
        (dict(reserved_cpu=3.5, reserved_mem_mb=7680), dict(cpus=0.5, memory_mb=512), None),
        # 3.75 + 0.5 > 4: 0.25 free
        (dict(reserved_cpu=3.75), dict(cpus=0.5), "cpu: needs 0.5 CPUs, 0.25 free"),
        # 7936 + 512 > 8192: 256 free
        (dict(reserved_mem_mb=7936), dict(memory_mb=512), "memory: needs 512 MB, 256 MB free"),
        (
            dict(reserved_cpu=4, reserved_mem_mb=8192),
            dict(cpus=1, memory_mb=1),
            "cpu: needs 1 CPUs, 0 free and memory: needs 1 MB, 0 MB free",
        ),
        # an overcommitted host shows 0 free, not a negative number
        (dict(reserved_cpu=5), dict(cpus=1), "cpu: needs 1 CPUs, 0 free"),
    ],
)
def test_resources(kw, request_kw, reason):
    assert resources.check(host(**kw), req(**request_kw)) == reason


def test_resources_tolerates_float_sums():
    # 0.1 + 0.1 + 0.1 = 0.30000000000000004 must still fit a 0.3 CPU host
    h = host(total_cpu=0.3, reserved_cpu=0.1 + 0.1)
    assert resources.check(h, req(cpus=0.1)) is None


@pytest.mark.parametrize(
    "used, wanted, reason",
    [
        ({22}, [80, 443], None),
        ({80, 22}, [80], "port 80 in use"),
        ({443, 80}, [80, 443, 8080], "ports 80, 443 in use"),
        ({80}, [], None),
    ],
)
def test_ports(used, wanted, reason):
    assert ports.check(host(used_ports=used), req(ports=wanted)) == reason


LABELS = {"zone": "a", "disk": "ssd", "role": "web"}


@pytest.mark.parametrize(
    "exprs, reason",
    [
        ([], None),
        (["zone==a", "disk!=hdd", "role"], None),
        (["zone=a"], None),
        (["zone == a"], None),
        (["gpu!=yes"], None),  # a missing label satisfies !=
        (["!gpu"], None),
        (["zone==b"], "constraint zone==b: zone is a"),
        (["rack==r1"], "constraint rack==r1: no label rack"),
        (["disk!=ssd"], "constraint disk!=ssd: disk is ssd"),
        (["gpu"], "constraint gpu: no label gpu"),
        (["!role"], "constraint !role: role is web"),
        # the first failing constraint is the one reported
        (["zone==a", "disk==hdd", "gpu"], "constraint disk==hdd: disk is ssd"),
    ],
)
def test_constraints(exprs, reason):
    assert constraints.check(host(labels=LABELS), req(constraints=exprs)) == reason


def test_constraint_label_values_compare_as_strings():
    assert constraints.check(host(labels={"gen": 3}), req(constraints=["gen==3"])) is None


@pytest.mark.parametrize("expr", ["", "==a", "zone==", "zone==a==b", "zone<=a", "!", "two words", 3])
def test_bad_constraint_is_a_spec_error_naming_it(expr):
    with pytest.raises(SpecError, match="constraint"):
        parse(expr)
    with pytest.raises(SpecError, match="constraint"):
        Request("web", constraints=[expr])


def test_first_rejection_names_the_filter():
    h = host(healthy=False, status="down", reserved_mem_mb=8192)
    assert first_rejection(h, req(memory_mb=1)) == ("healthy", "unhealthy (down)")
    assert first_rejection(host(reserved_mem_mb=8192), req(memory_mb=1)) == (
        "resources",
        "memory: needs 1 MB, 0 MB free",
    )
    assert first_rejection(host(), req(cpus=1)) is None


@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(cpus=-1), "cpus"),
        (dict(cpus=float("inf")), "cpus"),
        (dict(memory_mb=-5), "memory"),
        (dict(ports=[0]), "ports"),
        (dict(ports=[70000]), "ports"),
    ],
)
def test_bad_request_names_the_field(kw, field):
    with pytest.raises(SpecError, match=f"^{field}: "):
        Request("web", **kw)
