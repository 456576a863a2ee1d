"""The one error hierarchy of paasops; the CLI maps it to exit codes, the API to HTTP statuses."""

from __future__ import annotations

from typing import Any


class PaasopsError(Exception):
    """Root of every error paasops raises on purpose. The message names what and where."""

    exit_code = 1
    http_status = 500
    # Set on an error the API client rebuilt from an answer: its HTTP status and JSON body, and the
    # candidates of an ambiguous id prefix.
    status: int | None = None
    body: dict[str, Any] | None = None
    candidates: list[str] | None = None

    def __init__(self, message: str, *, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class UserInputError(PaasopsError):
    """Bad input from the user: a malformed file, a bad flag, a bad payload."""

    exit_code = 2
    http_status = 400


class PayloadTooLarge(UserInputError):
    """A request body over the service's limit (refused before it is read or parsed)."""

    http_status = 413


class InventoryError(UserInputError):
    """A malformed inventory file (where = file:line)."""


class PlaybookError(UserInputError):
    """A malformed playbook (where = file, task and field)."""


class SpecError(UserInputError):
    """A malformed app.yml or API payload."""


class NotFoundError(PaasopsError):
    exit_code = 3
    http_status = 404


class ConflictError(PaasopsError):
    """An ambiguous id prefix, an existing name, a port already taken."""

    exit_code = 2
    http_status = 409


class AuthError(PaasopsError):
    exit_code = 4
    http_status = 401


class ForbiddenError(PaasopsError):
    exit_code = 4
    http_status = 403


class RateLimited(PaasopsError):
    """Too many attempts (failed logins, a locked account): try again after `retry_after` seconds."""

    exit_code = 4
    http_status = 429
    retry_after: float = 1.0

    def __init__(self, message: str, *, retry_after: float = 1.0, where: str | None = None):
        self.retry_after = retry_after
        super().__init__(message, where=where)


class ConnectionFailed(PaasopsError):
    """A host, engine or service could not be reached (where = the host)."""

    exit_code = 5
    http_status = 502


class StoreUnavailable(ConnectionFailed):
    """The state store cannot be reached (where = its host:port); reads and writes wait for it."""

    http_status = 503


class HostKeyError(ConnectionFailed):
    """An unknown or changed SSH host key."""


class UnsupportedHost(PaasopsError):
    """A host whose distribution or platform paasops refuses to manage."""

    exit_code = 6
    http_status = 422


class PlacementError(PaasopsError):
    """No host can take a replica; the message says why for each host (a request that cannot fit)."""

    exit_code = 2
    http_status = 409


class CommandFailed(PaasopsError):
    """A remote command exited non-zero; carries its result (like invoke's UnexpectedExit)."""

    exit_code = 1

    def __init__(self, result, *, where: str | None = None):
        self.result = result
        tail = (result.stderr or result.stdout or "").strip().splitlines()[-3:]
        detail = " | ".join(tail)
        super().__init__(
            f"command {result.command!r} exited {result.exit_code}" + (f": {detail}" if detail else ""),
            where=where,
        )
