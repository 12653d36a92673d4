"""The server's exception tree; each branch maps to one HTTP status."""

from __future__ import annotations

from typing import Any


class ServerError(Exception):
    """Root of every error the node reports to a client.

    Args:
        message: What was expected, what was received, and where.
        extra: Additional fields for the error body.
    """

    status_code = 500

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The wire error body."""
        return {
            "error": True,
            "message": self.message,
            "status_code": self.status_code,
            **self.extra,
        }


class BadRequest(ServerError):
    """The request is malformed (400)."""

    status_code = 400


class Unauthorized(ServerError):
    """No valid credentials were presented (401)."""

    status_code = 401


class Forbidden(ServerError):
    """The credentials do not grant this operation (403)."""

    status_code = 403


class NotFound(ServerError):
    """The addressed resource does not exist (404)."""

    status_code = 404


class MethodNotAllowed(ServerError):
    """The route exists but not for this method (405)."""

    status_code = 405


class Conflict(ServerError):
    """The write conflicts with another one (409)."""

    status_code = 409


class PayloadTooLarge(ServerError):
    """The body exceeds the configured limit (413)."""

    status_code = 413


class Unavailable(ServerError):
    """The node cannot serve the request right now (503)."""

    status_code = 503


class StorageError(ServerError):
    """The storage engine failed; the write was not applied (503)."""

    status_code = 503


class StorageFull(StorageError):
    """The store has no room for the write; it was not applied (507).

    Retrying does not help: room must be made first (deleting data, a larger map,
    a larger disk).
    """

    status_code = 507
