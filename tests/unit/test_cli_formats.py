"""Values as the CLI shows them: ports like `docker ps`, ages, sizes, numbers, times."""

from __future__ import annotations

import pytest

from paasops.cli import formats
from paasops.results import Port

NOW = 1_700_000_000.0


# -- small formats --------------------------------------------------------------------------------
def test_fmt_ports_like_docker_ps():
    ports = [{"container": 8080, "protocol": "tcp", "host_ip": "0.0.0.0", "host_port": 32768},
             {"container": 8080, "protocol": "tcp", "host_ip": "::", "host_port": 32769},
             {"container": 53, "protocol": "udp", "host_ip": "", "host_port": None},
             {"container": 9000, "protocol": "tcp", "host_ip": "", "host_port": 9000}]
    assert formats.fmt_ports([Port(**p) for p in ports]) == ("0.0.0.0:32768->8080/tcp, [::]:32769->8080/tcp, 53/udp, "
                                       "0.0.0.0:9000->9000/tcp")
    assert formats.fmt_ports([]) == formats.fmt_ports(None) == ""


@pytest.mark.parametrize("ago, shown", [
    (0, "0 seconds ago"), (59, "59 seconds ago"), (60, "1 minute ago"), (150, "2 minutes ago"),
    (3600, "1 hour ago"), (3 * 86400 + 5, "3 days ago"), (-5, "0 seconds ago"),
])
def test_fmt_age(ago, shown):
    assert formats.fmt_age(NOW - ago, NOW) == shown
    assert formats.fmt_age(0, NOW) == ""


def test_fmt_mb_and_num():
    assert formats.fmt_mb(128) == "128 MiB"
    assert formats.fmt_mb(24105) == "23.5 GiB"
    assert formats.fmt_mb(None) == "0 MiB"
    assert formats.fmt_num(32.499999) == "32.50"
    assert formats.fmt_num(None) == ""
