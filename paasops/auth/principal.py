"""Who calls the API: an account's name, role and team, as the authenticator found them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    token: str | None = None  # the API token's name when a job's token called (None: a login session)
    team: str | None = None  # the account's team: its members share their apps (auth.ownership)
