"""HTTP plumbing shared by the routes: JSON bodies, limits and error responses."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
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
# The deepest nesting of arrays and objects a request body or document may have:
# deep enough for real data, shallow enough that no recursive step over a value
# (encoding, comparing, indexing) can exhaust Python's stack.
MAX_NESTING = 128


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
        return _json.loads(bytes(body), max_depth=MAX_NESTING)
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


PEER_HEADER = "x-themis-coordinator"
_PEER_HEADER_RAW = PEER_HEADER.encode()


@dataclass
class RouteTraffic:
    """Requests and body bytes of one route (or of all routes)."""

    requests: int = 0
    bytes_received: int = 0
    bytes_sent: int = 0

    def add(self, received: int, sent: int) -> None:
        """Count one request."""
        self.requests += 1
        self.bytes_received += received
        self.bytes_sent += sent

    def as_dict(self) -> dict[str, int]:
        """The counters as a JSON object."""
        return {
            "requests": self.requests,
            "bytes_received": self.bytes_received,
            "bytes_sent": self.bytes_sent,
        }


@dataclass
class Traffic:
    """What a node received and sent: HTTP body bytes, in total, from other nodes of
    the cluster (requests carrying ``X-Themis-Coordinator``) and per route template.

    Only the event loop updates the counters, so plain integers need no lock.
    """

    total: RouteTraffic = dataclasses.field(default_factory=RouteTraffic)
    peers: RouteTraffic = dataclasses.field(default_factory=RouteTraffic)
    routes: dict[str, RouteTraffic] = dataclasses.field(default_factory=dict)

    def add(self, route: str, from_peer: bool, received: int, sent: int) -> None:
        """Count one finished request."""
        self.total.add(received, sent)
        if from_peer:
            self.peers.add(received, sent)
        counter = self.routes.get(route)
        if counter is None:
            counter = self.routes[route] = RouteTraffic()
        counter.add(received, sent)

    def as_dict(self) -> dict[str, Any]:
        """The counters as a JSON object for ``/stats``."""
        return {
            **self.total.as_dict(),
            "from_peers": self.peers.as_dict(),
            "routes": {name: c.as_dict() for name, c in sorted(self.routes.items())},
        }


class RequestLog:
    """ASGI middleware that counts each request's body bytes per route and logs one
    DEBUG line per request.

    Args:
        app: The application to wrap.
        traffic: Where the counters go; the node's, found through the app's state
            when not given.
    """

    def __init__(self, app: ASGIApp, traffic: Traffic | None = None) -> None:
        self.app = app
        self.traffic = traffic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        received = 0
        sent = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            else:
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            self._count(scope, received, sent)
        if logger.isEnabledFor(logging.DEBUG):
            elapsed = (time.perf_counter() - started) * 1000
            logger.debug(
                "%s %s %d %.2fms", scope["method"], scope["path"], status, elapsed
            )

    def _count(self, scope: Scope, received: int, sent: int) -> None:
        traffic = self.traffic or _node_traffic(scope)
        if traffic is None:
            return
        # The route template, not the path: keys in paths would grow without bound.
        route = scope.get("route")
        template = getattr(route, "path", None) or "(unmatched)"
        from_peer = any(name == _PEER_HEADER_RAW for name, _ in scope["headers"])
        traffic.add(f"{scope['method']} {template}", from_peer, received, sent)


def _node_traffic(scope: Scope) -> Traffic | None:
    app = scope.get("app")
    node = getattr(getattr(app, "state", None), "node", None)
    traffic = getattr(node, "traffic", None)
    return traffic if isinstance(traffic, Traffic) else None
