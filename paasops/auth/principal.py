"""Who calls the API: an account's name and role, as the authenticator found them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    token: str | None = None  # the API token's name when a job's token called (None: a login session)
