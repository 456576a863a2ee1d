"""`paasops certs issue|add|list|rm`: the TLS certificates the edges serve, one per hostname (admins only)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ...errors import UserInputError
from ..common import OUTPUT, SERVER, Output, api_client, emit
from ..errors import report_errors

if TYPE_CHECKING:
    from ...results import CertificateView

app = typer.Typer(help="TLS certificates the edges serve for app hostnames (admins): issue, add, list, remove.",
                  no_args_is_help=True)


SOON = 30 * 86400.0  # a certificate with less than this left shows its expiry in yellow (past it: red)


def certs_table(rows: list[CertificateView], now: float | None = None):
    import time

    from .. import render
    from ..formats import fmt_time

    now = time.time() if now is None else now

    def expiry(c: CertificateView):
        if c.not_after <= now:
            return render.styled(f"{fmt_time(c.not_after)} (expired)", "red")
        return render.styled(fmt_time(c.not_after), "yellow" if c.not_after - now < SOON else "")

    return render.table(["HOSTNAME", "SOURCE", "SUBJECT", "ISSUER", "NOT AFTER", "SHA256"],
                        [[c.hostname, c.source, c.subject, c.issuer, expiry(c), c.fingerprint] for c in rows])


def read_pem(path: Path, option: str) -> str:
    """A PEM file's text; UserInputError naming the option and file when it cannot be read."""
    from ...edge_tls import MAX_CERT_PEM  # what the service takes at most: refused here before anything is sent

    try:
        if path.stat().st_size > MAX_CERT_PEM:
            raise UserInputError(f"{path} is larger than {MAX_CERT_PEM // 1024} KiB: not a certificate or key",
                                 where=option)
        return path.read_text(encoding="ascii")
    except OSError as exc:
        raise UserInputError(f"cannot read {path}: {exc.strerror or exc}", where=option) from None
    except UnicodeDecodeError:
        raise UserInputError(f"{path} is not PEM text (DER? convert it with `openssl x509 -inform der`)",
                             where=option) from None


@app.command("issue")
@report_errors
def certs_issue(hostname: str = typer.Argument(..., metavar="HOSTNAME", help="e.g. hello.example.test"),
                days: int = typer.Option(365, "--days", min=1, help="Days it is valid (at most 825)."),
                output: Output = OUTPUT, server: str = SERVER):
    """Issue a certificate for HOSTNAME from the cluster CA (replacing the hostname's certificate, if any).

    The edges serve it on HTTPS for that hostname. Clients trust it with the cluster CA:
    `curl --cacert PKI_DIR/ca.pem https://HOSTNAME/`. The private key stays in the service, sealed.
    """
    with api_client(server) as api:
        emit(api.issue_cert(hostname, days), output, lambda c: certs_table([c]))


@app.command("add")
@report_errors
def certs_add(hostname: str = typer.Argument(..., metavar="HOSTNAME"),
              cert: Path = typer.Option(..., "--cert", metavar="FILE",
                                        help="PEM: the certificate, then its intermediates (fullchain.pem)."),
              key: Path = typer.Option(..., "--key", metavar="FILE", help="PEM: its private key, unencrypted."),
              output: Output = OUTPUT, server: str = SERVER):
    """Add your own certificate and key for HOSTNAME (e.g. from a public CA or ACME; run again to renew).

    The service checks that both parse, that the key is the certificate's, that the certificate covers
    HOSTNAME (a DNS name, exact or wildcard) and that it is valid now; otherwise nothing is stored.
    """
    cert_pem, key_pem = read_pem(cert, "--cert"), read_pem(key, "--key")
    with api_client(server) as api:
        emit(api.add_cert(hostname, cert_pem, key_pem), output, lambda c: certs_table([c]))


@app.command("list")
@report_errors
def certs_list(output: Output = OUTPUT, server: str = SERVER):
    """Every certificate: hostname, source (cluster-ca or user), subject, issuer, expiry, SHA-256 fingerprint."""
    with api_client(server) as api:
        emit(api.certs(), output, certs_table)


@app.command("rm")
@report_errors
def certs_rm(hostname: str = typer.Argument(..., metavar="HOSTNAME"), output: Output = OUTPUT,
             server: str = SERVER):
    """Remove HOSTNAME's certificate: the edges stop serving HTTPS for it."""
    with api_client(server) as api:
        emit(api.remove_cert(hostname), output, lambda r: f"removed the certificate for {r.removed}")
