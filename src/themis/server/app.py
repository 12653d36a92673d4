"""The node's ASGI application."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from themis.server import (
    admin,
    entities,
    graph_routes,
    index_routes,
    internal_routes,
    maintenance,
    metrics,
    query_routes,
    rebalance,
    transaction_routes,
    vector_routes,
)
from themis.server.auth import Authenticator
from themis.server.errors import ServerError
from themis.server.http import (
    DEFAULT_MAX_BODY_BYTES,
    RequestLog,
    http_error_handler,
    server_error_handler,
    unexpected_error_handler,
)
from themis.server.state import NodeState


def _auth(node: NodeState) -> list[Middleware]:
    if node.tokens is None:
        return []
    return [Middleware(Authenticator, store=node.tokens)]


def create_app(
    node: NodeState, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> Starlette:
    """Build the HTTP application serving one node.

    Args:
        node: The running node's state; the caller owns its lifetime.
        max_body_bytes: Largest request body accepted (larger ones get 413).
    """
    app = Starlette(
        routes=[
            *admin.routes,
            *metrics.routes,
            *entities.routes,
            *query_routes.routes,
            *index_routes.routes,
            *internal_routes.routes,
            *transaction_routes.routes,
            *graph_routes.routes,
            *vector_routes.routes,
            *rebalance.routes,
        ],
        middleware=[
            Middleware(RequestLog),
            *_auth(node),
            Middleware(maintenance.TopologyGate, node=node),
        ],
        exception_handlers={
            ServerError: server_error_handler,
            HTTPException: http_error_handler,
            Exception: unexpected_error_handler,
        },
    )
    app.state.node = node
    app.state.max_body_bytes = max_body_bytes
    return app
