"""`paasops certs`: its table (expiry coloured by what is left) and reading PEM files before anything is sent."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from paasops.cli.commands.certs import certs_table, read_pem
from paasops.errors import UserInputError
from paasops.results import CertificateView

NOW = 1_800_000_000.0
DAY = 86400.0


def row(hostname: str, not_after: float) -> CertificateView:
    return CertificateView(hostname=hostname, source="user", subject=f"CN={hostname}", issuer="CN=Some CA",
                           names=[hostname], not_before=NOW - 10 * DAY, not_after=not_after, fingerprint="ab" * 32)


def test_the_table_shows_every_field_but_a_key_and_colours_the_expiry():
    console = Console(file=io.StringIO(), width=300, color_system="truecolor", force_terminal=True)
    table = certs_table([row("fine.example.test", NOW + 90 * DAY), row("soon.example.test", NOW + 3 * DAY),
                         row("gone.example.test", NOW - DAY)], now=NOW)
    console.print(table)
    text = console.file.getvalue()
    plain = Console(file=io.StringIO(), width=300)
    plain.print(table)
    lines = plain.file.getvalue().splitlines()
    assert lines[0].split() == ["HOSTNAME", "SOURCE", "SUBJECT", "ISSUER", "NOT", "AFTER", "SHA256"]
    assert "ab" * 32 in lines[1] and "CN=Some CA" in lines[1] and "(expired)" in lines[3]
    assert "(expired)" not in lines[1] + lines[2]
    cells = table.columns[4]._cells
    assert [c.style for c in cells] == ["", "yellow", "red"]
    assert "\x1b[" in text


def test_read_pem_names_the_option_and_the_problem(tmp_path):
    good = tmp_path / "cert.pem"
    good.write_text("-----BEGIN CERTIFICATE-----\n...\n")
    assert read_pem(good, "--cert").startswith("-----BEGIN")
    with pytest.raises(UserInputError, match=r"--key: cannot read .*nope.pem: No such file"):
        read_pem(tmp_path / "nope.pem", "--key")
    binary = tmp_path / "cert.der"
    binary.write_bytes(b"\x30\x82\x01\xff")
    with pytest.raises(UserInputError, match="--cert: .*cert.der is not PEM text"):
        read_pem(binary, "--cert")
    big = tmp_path / "big.pem"
    big.write_text("x" * (64 * 1024 + 1))
    with pytest.raises(UserInputError, match="larger than 64 KiB"):
        read_pem(big, "--cert")
    with pytest.raises(UserInputError, match="cannot read"):
        read_pem(tmp_path, "--cert")  # a directory
