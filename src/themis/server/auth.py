"""Bearer tokens with scopes, checked before any route runs.

Authentication is off until a tokens file is given (``themis serve --tokens FILE`` or
``THEMIS_TOKENS_FILE``). The file lists tokens, each with a name, its secret (plain,
or only its SHA-256 as ``sha256``) and its scopes:

    {"tokens": [{"name": "app", "sha256": "<hex>", "scopes": ["data:read"]}]}

Every route needs one scope; ``/health`` needs none. ``cluster`` grants every scope:
nodes of a cluster call each other with a plain ``cluster`` token from the file.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from themis import _json
from themis.server.errors import Forbidden, ServerError, Unauthorized

SCOPES = frozenset({"data:read", "data:write", "admin", "metrics:read", "cluster"})
PUBLIC = frozenset({"/", "/health"})

# (method or "*", path prefix, scope); the first match decides.
_RULES: tuple[tuple[str, str, str], ...] = (
    ("GET", "/metrics", "metrics:read"),
    ("*", "/_internal/", "cluster"),
    ("GET", "/stats", "admin"),
    ("GET", "/transaction/stats", "admin"),
    # Only the coordinating node prepares a part or asks for an outcome.
    ("POST", "/transaction/prepare", "cluster"),
    ("GET", "/transaction/outcome", "cluster"),
    ("GET", "/transaction/prepared", "cluster"),
    ("*", "/transaction/", "data:write"),
    ("POST", "/index/", "admin"),
    ("POST", "/vector/index", "admin"),
    ("PUT", "/vector/index/", "admin"),
    ("POST", "/vector/batch_insert", "data:write"),
    ("POST", "/graph/edge", "data:write"),
    ("DELETE", "/graph/edge/", "data:write"),
    ("POST", "/graph/traverse", "data:read"),
    ("POST", "/graph/shortest_path", "data:read"),
    ("POST", "/graph/neighbors", "data:read"),
    ("POST", "/graph", "admin"),
    ("DELETE", "/graph/", "admin"),
    ("POST", "/batch/get", "data:read"),
    ("POST", "/batch/", "data:write"),
    ("PUT", "/entities", "data:write"),
    ("POST", "/entities", "data:write"),
    ("DELETE", "/entities", "data:write"),
)


@dataclass(frozen=True)
class Token:
    """One configured token: who it is and what it may do."""

    name: str
    digest: bytes
    scopes: frozenset[str]
    secret: str | None = None


class TokenStore:
    """The tokens a node accepts."""

    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens

    @classmethod
    def load(cls, path: Path) -> TokenStore:
        """Read a tokens file.

        Raises:
            ServerError: the file is missing, not JSON or not a token list.
        """
        try:
            payload = _json.loads(path.read_bytes())
            entries = payload["tokens"]
            return cls([_token(entry) for entry in entries])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ServerError(
                f"cannot read tokens file {str(path)!r}: expected "
                '{"tokens": [{"name", "token" or "sha256", "scopes"}]}, '
                f"got {exc}"
            ) from exc

    def peer_secret(self) -> str | None:
        """A plain ``cluster`` token for calls to the other shards, if one is set."""
        for token in self._tokens:
            if "cluster" in token.scopes and token.secret is not None:
                return token.secret
        return None

    def check(self, authorization: str | None, needed: str) -> Token:
        """The token of a request, if it holds the scope the route needs.

        Raises:
            Unauthorized: no token, or an unknown one.
            Forbidden: the token lacks the scope.
        """
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized(
                "this node requires 'Authorization: Bearer <token>'; none was sent"
            )
        digest = hashlib.sha256(authorization[7:].strip().encode()).digest()
        for token in self._tokens:
            if hmac.compare_digest(token.digest, digest):
                if needed in token.scopes or "cluster" in token.scopes:
                    return token
                raise Forbidden(
                    f"token {token.name!r} lacks scope {needed!r}; it has "
                    f"{sorted(token.scopes)}"
                )
        raise Unauthorized("the bearer token is not known to this node")


def _token(entry: Any) -> Token:
    scopes = frozenset(entry["scopes"])
    unknown = scopes - SCOPES
    if unknown:
        raise ValueError(f"unknown scopes {sorted(unknown)}; known: {sorted(SCOPES)}")
    secret = entry.get("token")
    if secret is not None:
        digest = hashlib.sha256(str(secret).encode()).digest()
    else:
        digest = bytes.fromhex(entry["sha256"])
    return Token(str(entry["name"]), digest, scopes, secret)


def holds_scope(request: Request, scope: str) -> bool:
    """Whether the request's token holds ``scope``; always true without tokens."""
    if request.app.state.node.tokens is None:
        return True
    token: Token | None = getattr(request.state, "token", None)
    return token is not None and (scope in token.scopes or "cluster" in token.scopes)


def required_scope(method: str, path: str) -> str | None:
    """The scope a request needs, or None for public routes."""
    if path in PUBLIC:
        return None
    for rule_method, prefix, scope in _RULES:
        if rule_method in ("*", method) and path.startswith(prefix):
            return scope
    return "data:read"


class Authenticator:
    """ASGI middleware that refuses requests whose token lacks the route's scope."""

    def __init__(self, app: ASGIApp, store: TokenStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        needed = required_scope(scope["method"], scope["path"])
        if needed is not None:
            header = _header(scope, b"authorization")
            try:
                token = self.store.check(header, needed)
            except ServerError as exc:
                await _refuse(exc, send)
                return
            # Routes that decide by more than the path read it as request.state.token.
            scope.setdefault("state", {})["token"] = token
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _refuse(error: ServerError, send: Send) -> None:
    body = _json.dumps(error.body())
    headers = [(b"content-type", b"application/json")]
    if error.status_code == 401:
        headers.append((b"www-authenticate", b'Bearer realm="themis"'))
    await send(
        {"type": "http.response.start", "status": error.status_code, "headers": headers}
    )
    await send({"type": "http.response.body", "body": body})
