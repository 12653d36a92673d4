"""``/_internal/*``: what a coordinating node asks the other shards of a query."""

from __future__ import annotations

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from themis.server.documents import list_collections
from themis.server.entities import reader
from themis.server.errors import BadRequest
from themis.server.http import field, json_response, read_object
from themis.server.keys import DEFAULT_NAMESPACE
from themis.server.state import node_of
from themis.server.transaction_routes import transaction_of


async def collections(request: Request) -> Response:
    node = node_of(request)
    namespace = request.query_params.get("namespace") or DEFAULT_NAMESPACE
    with node.storage.snapshot() as view:
        names = list_collections(view, namespace)
    txn = transaction_of(request)
    if txn is not None:
        # A coordinator's query inside a transaction must also find the
        # collections that only the transaction's writes here have started.
        names = sorted({*names, *txn.collections_written(namespace)})
    return json_response({"namespace": namespace, "collections": names})


async def edges(request: Request) -> Response:
    node = node_of(request)
    body = await read_object(request)
    vertex = field(body, "vertex", str)
    direction = field(body, "direction", str)
    if direction not in ("out", "in"):
        raise BadRequest(
            f"expected 'direction' to be 'out' or 'in', received {direction!r}"
        )
    collection = body.get("collection")
    if collection is not None and not isinstance(collection, str):
        raise BadRequest("expected 'collection' to be a string or null")

    def read() -> list[dict[str, object]]:
        # Inside a transaction's part, its own edges here count too.
        with reader(request) as view:
            source = node.query_source(view, DEFAULT_NAMESPACE)
            return list(source.edges(vertex, direction, collection))

    return json_response({"edges": await anyio.to_thread.run_sync(read)})


async def graph(request: Request) -> Response:
    node = node_of(request)
    with node.storage.snapshot() as view:
        source = node.query_source(view, DEFAULT_NAMESPACE)
        found = source.graph(request.path_params["name"])
    if found is None:
        return json_response({"graph": None})
    body = {"name": found.name, "edge_collections": list(found.edge_collections)}
    return json_response({"graph": body})


routes = [
    Route("/_internal/collections", collections, methods=["GET"]),
    Route("/_internal/edges", edges, methods=["POST"]),
    Route("/_internal/graph/{name}", graph, methods=["GET"]),
]
