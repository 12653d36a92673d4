"""HTTP plumbing shared by the routes: JSON bodies, limits and error responses."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from themis import _json
from themis.server.errors import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServerError,
)

logger = logging.getLogger("themis.server")

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


class JSONResponse(Response):
    """A response encoded with orjson (exact integers of any size)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _json.dumps(content)


def json_response(content: Any, status_code: int = 200) -> JSONResponse:
    """Build a JSON response."""
    return JSONResponse(content, status_code=status_code)


async def read_json(request: Request, *, required: bool = True) -> Any:
    """Read and decode the JSON body within the node's size limit.

    Args:
        request: The incoming request.
        required: Whether an empty body is an error (otherwise it reads as ``{}``).

    Raises:
        PayloadTooLarge: the body exceeds the limit.
        BadRequest: the body is missing or not JSON.
    """
    limit: int = request.app.state.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, int(declared))
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise _too_large(limit, len(body))
    if not body.strip():
        if required:
            raise BadRequest("expected a JSON request body, received an empty body")
        return {}
    try:
        return _json.loads(bytes(body))
    except ValueError as exc:
        raise BadRequest(f"Invalid JSON: {exc}") from exc


async def read_object(request: Request, *, required: bool = True) -> dict[str, Any]:
    """Read a JSON body that must be an object.

    Raises:
        BadRequest: the body is not a JSON object.
    """
    body = await read_json(request, required=required)
    if not isinstance(body, dict):
        raise BadRequest(
            f"expected a JSON object as request body, received {type(body).__name__}"
        )
    return body


def field(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    """A required body field of the given type.

    Raises:
        BadRequest: the field is missing or of another type.
    """
    if name not in body:
        raise BadRequest(f"missing required field {name!r}")
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = (
            kind.__name__
            if isinstance(kind, type)
            else "/".join(k.__name__ for k in kind)
        )
        raise BadRequest(
            f"expected field {name!r} to be {expected}, "
            f"received {type(value).__name__} {value!r:.80}"
        )
    return value


def _too_large(limit: int, actual: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"request body of {actual} bytes exceeds the limit of {limit} bytes",
        max_bytes=limit,
        actual_bytes=actual,
    )


async def server_error_handler(request: Request, exc: Exception) -> Response:
    """Render a `ServerError` in the wire error shape."""
    assert isinstance(exc, ServerError)
    return json_response(exc.body(), exc.status_code)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Render the router's 404/405 in the wire error shape."""
    assert isinstance(exc, HTTPException)
    error: ServerError
    if exc.status_code == 404:
        error = NotFound("Endpoint not found")
    elif exc.status_code == 405:
        error = MethodNotAllowed(
            f"method {request.method} is not allowed on {request.url.path}"
        )
    else:
        error = ServerError(str(exc.detail))
        error.status_code = exc.status_code
    return json_response(error.body(), error.status_code)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """Log an unhandled error once and answer without leaking internals."""
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    body = {"error": True, "message": "internal server error", "status_code": 500}
    return json_response(body, 500)


class RequestLog:
    """ASGI middleware that logs one DEBUG line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not logger.isEnabledFor(logging.DEBUG):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, capture)
        elapsed = (time.perf_counter() - started) * 1000
        logger.debug("%s %s %d %.2fms", scope["method"], scope["path"], status, elapsed)
