"""The SDK's exception tree.

Every exception the SDK raises on its own derives from :class:`ThemisError`. HTTP
failures are also :class:`httpx.HTTPStatusError`, so code written against plain httpx
keeps working; network failures propagate as the httpx exceptions that caused them.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

__all__ = [
    "BadRequestError",
    "ConflictError",
    "NotFoundError",
    "QueryError",
    "ThemisError",
    "ThemisHTTPError",
    "TopologyError",
    "http_error",
]


class ThemisError(Exception):
    """Root of every error the SDK raises itself."""


class TopologyError(ThemisError):
    """The cluster topology answered but could not be used."""


class ThemisHTTPError(ThemisError, httpx.HTTPStatusError):
    """A node answered with an HTTP status of 400 or above.

    Attributes:
        status_code: The HTTP status of the response.
        message: The server's error message, or the response text when it sent none.
        payload: The decoded response body, or ``None`` when it was not JSON.
    """

    def __init__(
        self,
        text: str,
        *,
        request: httpx.Request,
        response: httpx.Response,
        message: str,
        payload: Any = None,
    ) -> None:
        super().__init__(text, request=request, response=response)
        self.status_code = response.status_code
        self.message = message
        self.payload = payload


class NotFoundError(ThemisHTTPError):
    """The node answered 404."""


class ConflictError(ThemisHTTPError):
    """The node answered 409, for example a write-write conflict in a transaction."""


class BadRequestError(ThemisHTTPError):
    """The node rejected the request as malformed (400 or 422)."""


class QueryError(BadRequestError):
    """The node rejected an AQL query (400 from ``/query/aql``)."""


def http_error(response: httpx.Response) -> ThemisHTTPError:
    """Builds the exception that describes an error response.

    Args:
        response: A response whose status is 400 or above.

    Returns:
        The most specific :class:`ThemisHTTPError` branch for the status and route.
    """
    payload = _decode(response.content)
    message = _message(payload, response)
    request = response.request
    text = (
        f"{response.status_code} {response.reason_phrase} from "
        f"{request.method} {request.url}: {message}"
    )
    cls = _error_class(response.status_code, request.url.path)
    return cls(
        text, request=request, response=response, message=message, payload=payload
    )


def _error_class(status: int, path: str) -> type[ThemisHTTPError]:
    if status == 400 and path == "/query/aql":
        return QueryError
    if status in (400, 422):
        return BadRequestError
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    return ThemisHTTPError


def _decode(content: bytes) -> Any:
    try:
        return orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        return None


def _message(payload: Any, response: httpx.Response) -> str:
    if isinstance(payload, dict):
        # Upstream sends "error" as a bool or as a short title; "message" is the text.
        for field in ("message", "error"):
            value = payload.get(field)
            if isinstance(value, str) and value:
                return value
    return response.text[:500] or response.reason_phrase
