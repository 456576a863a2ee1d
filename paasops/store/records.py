"""Plain records the state store keeps: accounts, roles, tokens, API tokens, engines, events, apps, certificates."""

from __future__ import annotations

import itertools
import os
import re
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..vocabulary import DEPLOY_ACTIVE, RELEASE_PENDING

# Only hashes ever reach the store: these are the shapes it accepts.
PASSWORD_HASH_RE = re.compile(r"^\$(argon2id|argon2i|argon2d|2a|2b|2y)\$\S{20,}$")
TOKEN_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
# ...and secrets only sealed (the vault's authenticated encryption), never their values.
SEALED_PREFIX = "aesgcm1:"


@dataclass
class Account:
    name: str
    password_hash: str
    role: str
    created_at: float = 0.0
    updated_at: float = 0.0
    team: str | None = None  # its members share the apps each of them deploys


@dataclass
class Role:
    name: str
    paths: list[str] = field(default_factory=list)


@dataclass
class Token:
    token_hash: str
    user: str
    expires_at: float
    created_at: float = 0.0


@dataclass
class ApiToken:
    """A long-lived token for jobs: named, acting as `user` with `role` (no more than the user's) and,
    when `routes` is not empty, only on those ACL rules. Kept hashed; `expires_at` None: never."""

    name: str
    token_hash: str
    user: str
    role: str
    routes: list[str] = field(default_factory=list)
    expires_at: float | None = None
    created_at: float = 0.0


@dataclass
class Engine:
    """A Docker host the service can place on; `address` is what ICMP pings."""

    id: str
    address: str
    docker_url: str = ""
    cpus: float = 0.0
    memory_mb: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    tls: bool = True
    source: str = "manual"  # etcd | manual | local
    status: str = "unknown"  # unknown | up | down | degraded
    unschedulable: bool = False  # drained by an admin: nothing new is placed there (`hosts drain`)
    draining: bool = False  # its drain's moves were under way (set before, cleared after): resumed at start
    meta: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass
class Event:
    """One thing that happened; ids sort like times, so newest first is id descending."""

    type: str
    tag: str = "api"
    app: str | None = None
    host: str | None = None
    container: str | None = None
    user: str | None = None
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    time: float = 0.0
    id: str = ""


@dataclass
class App:
    """Desired state of one app: its spec (as a plain dict), replica count and deployment.

    It is also the deployment record: a deploy writes it `pending` before any container starts and
    `active` when it finishes; `previous` (deployment_id, spec_hash, count) is the release that runs
    until then, so a crash mid-deploy leaves both releases known to the store.
    """

    name: str
    spec: dict[str, Any]
    count: int
    deployment_id: str
    spec_hash: str = ""
    state: str = DEPLOY_ACTIVE  # DEPLOY_PENDING until the deploy finishes
    previous: dict[str, Any] | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    owner: str | None = None  # the account that deployed it (None: from before ownership, admins' only)
    team: str | None = None  # the owner's team when it deployed
    secrets: dict[str, str] = field(default_factory=dict)  # env name -> sealed value (never the value)

    def deployments(self) -> set[str]:
        """The deployment ids of this app the store knows: the current one and a pending deploy's previous."""
        return {self.deployment_id} | ({self.previous["deployment_id"]} if self.previous else set())


@dataclass
class Release:
    """One deployment attempt of an app, as its history keeps it: the whole stored spec and its secrets
    sealed (as the app record had them), so that a rollback can deploy it again; `data` says more
    (e.g. `rollback_to`: the release it rolled back to, `why`: what rolled it back)."""

    app: str
    deployment_id: str
    spec_hash: str
    spec: dict[str, Any]
    count: int
    outcome: str = RELEASE_PENDING  # vocabulary.RELEASE_OUTCOMES
    user: str | None = None  # who deployed it (None: the service itself, e.g. finishing after a crash)
    started_at: float = 0.0  # 0: unknown (a release from before the history, recorded when replaced)
    finished_at: float | None = None
    secrets: dict[str, str] = field(default_factory=dict)  # env name -> sealed value (never the value)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Certificate:
    """An edge's certificate for one hostname: the chain in clear, the private key only sealed by the vault."""

    hostname: str
    source: str  # vocabulary.CERT_SOURCES: issued by the cluster CA, or given by a user
    cert_pem: str  # the chain, leaf first
    key_sealed: str  # the private key, sealed (never the key)
    subject: str = ""
    issuer: str = ""
    names: list[str] = field(default_factory=list)  # the leaf's DNS SANs
    not_before: float = 0.0
    not_after: float = 0.0
    fingerprint: str = ""  # sha256 hex of the leaf's DER
    user: str | None = None  # who issued or added it
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass
class AppChange:
    """An app put (`app` is its new desired state) or deleted (`app` is None)."""

    name: str
    app: App | None


def to_dict(record) -> dict[str, Any]:
    return asdict(record)


def from_dict(cls, data: dict[str, Any]):
    """Build a record from a row, ignoring columns the record does not know."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


_seq = itertools.count()
_seq_lock = threading.Lock()


def event_id(at: float) -> str:
    """A sortable id: nanoseconds since the epoch, then a per-process sequence and randomness."""
    with _seq_lock:
        n = next(_seq) % 0x100000000
    return f"{int(at * 1_000_000_000):019d}-{n:08x}{os.urandom(3).hex()}"


def id_bound(at: float) -> str:
    """The smallest event id at time `at`, for range queries over ids."""
    return f"{int(at * 1_000_000_000):019d}"


def now() -> float:
    return time.time()


def check_password_hash(value: str) -> None:
    if not isinstance(value, str) or not PASSWORD_HASH_RE.match(value):
        raise ValueError("the store takes a password hash (argon2 or bcrypt), never a password")


def check_token_hash(value: str) -> None:
    if not isinstance(value, str) or not TOKEN_HASH_RE.match(value):
        raise ValueError("the store takes a token hash (sha256 hex), never a token")


def check_sealed(app: App) -> None:
    """An app's secrets reach the store sealed by the vault, never as values."""
    check_sealed_secrets(app.name, app.secrets)


def check_sealed_key(cert: Certificate) -> None:
    """A certificate's private key reaches the store sealed by the vault, never in clear."""
    if not isinstance(cert.key_sealed, str) or not cert.key_sealed.startswith(SEALED_PREFIX):
        raise ValueError(f"the store takes a certificate's private key sealed, never the key ({cert.hostname})")


def check_sealed_secrets(app: str, secrets: dict[str, str]) -> None:
    """Secrets of app `app` (its record's or a release's) are sealed values, never plain ones."""
    for name, value in secrets.items():
        if not isinstance(value, str) or not value.startswith(SEALED_PREFIX):
            raise ValueError(f"the store takes app secrets sealed, never their values ({app}: {name})")
