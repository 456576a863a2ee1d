"""/api/certs: the edges' TLS certificates (admins only): issue from the cluster CA, add a user's, list, remove."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict, Field

from ...edge_tls import MAX_CERT_PEM, MAX_HOSTNAME, MAX_KEY_PEM
from ...errors import ForbiddenError
from ...results import CertificateRemoved, CertificateView
from ...service.certificates import DEFAULT_DAYS, MAX_DAYS
from ...vocabulary import ADMIN_ROLE
from ..deps import Caller, Service


def admins_only(caller: Caller) -> None:
    """Certificates and their keys are the cluster's: whatever a role's ACL says, only admins touch them."""
    if caller.role != ADMIN_ROLE:
        raise ForbiddenError("edge certificates are for admins only", where="certs")


router = APIRouter(prefix="/api", tags=["certs"], dependencies=[Depends(admins_only)])
Hostname = Field(min_length=1, max_length=MAX_HOSTNAME)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # a key is never echoed back


class IssueIn(_Body):
    hostname: str = Hostname
    days: int = Field(DEFAULT_DAYS, ge=1, le=MAX_DAYS, strict=True)


class AddIn(_Body):
    hostname: str = Hostname
    cert: str = Field(min_length=1, max_length=MAX_CERT_PEM, description="PEM: the certificate, then its chain.")
    key: str = Field(min_length=1, max_length=MAX_KEY_PEM, description="PEM: its private key, unencrypted.")


@router.get("/certs", response_model=list[CertificateView])
def list_certs(service: Service) -> list[CertificateView]:
    """Every edge certificate: hostname, source, subject, issuer, expiry, fingerprint (never a key)."""
    return service.certificates.list()


@router.post("/certs/issue", status_code=status.HTTP_201_CREATED, response_model=CertificateView)
def issue_cert(body: IssueIn, service: Service, caller: Caller) -> CertificateView:
    """A certificate for a hostname from the cluster CA (replacing the hostname's certificate, if any)."""
    return service.certificates.issue(body.hostname, days=body.days, by=caller.name)


@router.post("/certs", status_code=status.HTTP_201_CREATED, response_model=CertificateView)
def add_cert(body: AddIn, service: Service, caller: Caller) -> CertificateView:
    """A user's certificate and key for a hostname, once checked (the key is the certificate's, it covers the
    hostname, it is valid now); a bad one is refused with 400 and nothing is stored."""
    return service.certificates.add(body.hostname, body.cert, body.key, by=caller.name)


@router.delete("/certs/{hostname}", response_model=CertificateRemoved)
def remove_cert(hostname: str, service: Service, caller: Caller) -> CertificateRemoved:
    return service.certificates.remove(hostname, by=caller.name)
