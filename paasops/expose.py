"""An app's stable endpoint (app.yml `expose:`): HTTP by hostnames and path, or plain TCP on an edge port."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .vocabulary import EDGE_RESERVED_PORTS

# One DNS label: letters, digits and '-', not at either end, 1-63 long (RFC 1123); a name is 1+ labels, <= 253.
LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_HOSTNAME = 253
# A path prefix the edge matches: only characters no proxy config or URL needs to escape.
PATH_RE = re.compile(r"^/[A-Za-z0-9._~/-]*$")
MODE_HTTP, MODE_TCP = "http", "tcp"


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("spec", message)


def check_hostname(value: Any) -> str:
    """A DNS name, lower-cased (`Hello.Example.TEST` → `hello.example.test`); ValueError saying why not."""
    if not isinstance(value, str):
        raise ValueError(f"must be a DNS name like 'hello.example.test', got {value!r}")
    name = value.strip().lower().removesuffix(".")
    labels = name.split(".")
    if not name or len(name) > MAX_HOSTNAME or not all(LABEL_RE.match(label) for label in labels):
        raise ValueError(f"must be a DNS name like 'hello.example.test' (letters, digits, '-' and '.'), "
                         f"got {value!r}")
    if labels[-1].isdigit():
        raise ValueError(f"must be a DNS name, not an address, got {value!r}")
    return name


class Expose(BaseModel):
    """`port` (the container's) reached through the edges: by `hostnames` (+ `path`) over HTTP, or on the
    edges' `tcp` port. Not part of a release: changing where an app is reached replaces no replica."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: int = Field(ge=1, le=65535, strict=True)
    hostnames: list[str] | None = None
    path: str = "/"
    https_redirect: bool = Field(False, strict=True)
    tcp: int | None = Field(None, ge=1, le=65535, strict=True)

    @field_validator("hostnames", mode="before")
    @classmethod
    def _hostnames(cls, value: Any) -> list[str] | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise _fail(f"must be a non-empty list of DNS names, got {value!r}")
        names: list[str] = []
        for item in value:
            try:
                name = check_hostname(item)
            except ValueError as exc:
                raise _fail(str(exc)) from None
            if name in names:
                raise _fail(f"{name!r} is listed twice")
            names.append(name)
        return names

    @field_validator("path", mode="before")
    @classmethod
    def _path(cls, value: Any) -> str:
        if not isinstance(value, str) or not PATH_RE.match(value) or "//" in value:
            raise _fail(f"must be a URL path prefix like '/' or '/api' (letters, digits, '.', '_', '~', '-', '/'), "
                        f"got {value!r}")
        return value

    @field_validator("tcp")
    @classmethod
    def _edge_port(cls, value: int | None) -> int | None:
        if value is not None and value in EDGE_RESERVED_PORTS:
            raise _fail(f"port {value} is taken on the edges (reserved: "
                        f"{', '.join(str(p) for p in sorted(EDGE_RESERVED_PORTS))})")
        return value

    @model_validator(mode="after")
    def _one_mode(self) -> Expose:
        if (self.hostnames is None) == (self.tcp is None):
            raise _fail("needs exactly one of 'hostnames' (HTTP) or 'tcp' (plain TCP on the edges)"
                        + (", got both" if self.tcp is not None else ""))
        if self.tcp is not None:  # their defaults are allowed: a stored spec holds every field
            given = [name for name, default in (("https_redirect", False), ("path", "/"))
                     if getattr(self, name) != default]
            if given:
                raise _fail(f"{' and '.join(repr(g) for g in given)} {'is' if len(given) == 1 else 'are'} for "
                            "'hostnames' (HTTP) only, not 'tcp'")
        return self

    @property
    def mode(self) -> str:
        return MODE_TCP if self.tcp is not None else MODE_HTTP


def parse_expose(data: Any) -> Expose | None:
    """A stored spec's `expose` (None: not exposed); ValueError if it is not a valid one."""
    if data is None:
        return None
    try:
        return Expose.model_validate(data)
    except Exception as exc:  # pydantic's ValidationError: a record written by hand or an older rule
        raise ValueError(f"expose: {exc}") from None


def urls(expose: Expose, edge_addresses: list[str], *, https_hosts: frozenset[str] = frozenset()) -> list[str]:
    """Where an exposed app answers (`endpoint_urls` of its expose)."""
    return endpoint_urls(expose.hostnames or [], expose.path, expose.tcp, edge_addresses, https_hosts=https_hosts)


def endpoint_urls(hostnames: list[str], path: str | None, tcp: int | None, edge_addresses: list[str], *,
                  https_hosts: frozenset[str] = frozenset()) -> list[str]:
    """`http://HOST/PATH` per hostname (and `https://` for those with a certificate), or `tcp://EDGE:PORT`
    per edge address for plain TCP."""
    if tcp is not None:
        return [f"tcp://{address}:{tcp}" for address in edge_addresses]
    out = []
    for host in hostnames:
        out.append(f"http://{host}{path or '/'}")
        if host in https_hosts:
            out.append(f"https://{host}{path or '/'}")
    return out
