"""``/index/*``: create, drop and list secondary indexes."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from themis.server import peers
from themis.server.errors import BadRequest, ServerError
from themis.server.http import field, json_response, read_object
from themis.server.indexes import IndexDefinition, IndexKind
from themis.server.keys import DEFAULT_NAMESPACE, check_segment
from themis.server.state import node_of
from themis.server.transaction_routes import refuse_transaction

# Index entries carry the attribute path; LMDB keys hold 511 bytes in all.
_MAX_COLUMN_BYTES = 256
_KINDS: dict[str, IndexKind] = {"equality": "hash", "hash": "hash", "range": "range"}


def parse_definition(body: dict[str, Any]) -> IndexDefinition:
    """Read an index definition in the upstream shape ``{table, column, type?}``.

    Raises:
        BadRequest: a field is missing, or the index type is not supported.
    """
    collection = field(body, "table", str)
    check_segment(collection, "table")
    if "columns" in body:
        raise BadRequest(
            "composite indexes are not supported; create one index per 'column'"
        )
    column = field(body, "column", str)
    path = tuple(column.split("."))
    if len(column.encode()) > _MAX_COLUMN_BYTES:
        raise BadRequest(
            f"expected 'column' of at most {_MAX_COLUMN_BYTES} bytes, received "
            f"{len(column.encode())} bytes"
        )
    if not all(path):
        raise BadRequest(
            f"expected 'column' to be an attribute path, received {column!r}"
        )
    kind_name = body.get("type", "equality")
    if not isinstance(kind_name, str) or kind_name not in _KINDS:
        raise BadRequest(
            f"expected 'type' to be one of 'equality', 'range', received {kind_name!r}"
        )
    namespace = body.get("namespace") or DEFAULT_NAMESPACE
    if not isinstance(namespace, str):
        raise BadRequest("expected 'namespace' to be a string")
    unique = body.get("unique", False)
    if not isinstance(unique, bool):
        raise BadRequest(f"expected 'unique' to be true or false, received {unique!r}")
    return IndexDefinition(namespace, collection, path, _KINDS[kind_name], unique)


async def create_index(request: Request) -> Response:
    refuse_transaction(request, "creating an index")
    body = await read_object(request)
    definition = parse_definition(body)
    node = node_of(request)
    created = await node.catalog.create(definition)
    if peers.whole_cluster(request):
        outcomes = await anyio.to_thread.run_sync(
            peers.on_others, node, "POST", "/index/create", body
        )
        failed = [item for item in outcomes.values() if isinstance(item, ServerError)]
        if failed:
            # Every shard has the index or none: take back what this request made.
            if created:
                await node.catalog.drop(definition)
            made = [sid for sid, item in outcomes.items() if _said(item, "created")]
            await anyio.to_thread.run_sync(
                peers.undo_on, node, made, "POST", "/index/drop", body
            )
            raise failed[0]
        created = created or any(_said(item, "created") for item in outcomes.values())
    answer = {"success": True, "created": created, **definition.to_json()}
    if definition.unique and len(node.peers()) > 1:
        # Said with every answer, so that no client takes it for more.
        answer["unique_scope"] = "shard"
    return json_response(answer)


async def drop_index(request: Request) -> Response:
    refuse_transaction(request, "dropping an index")
    body = await read_object(request)
    body.setdefault("type", "equality")
    definition = parse_definition(body)
    node = node_of(request)
    dropped = await node.catalog.drop(definition)
    if peers.whole_cluster(request):
        # Dropping twice is harmless: a shard that did not answer is told again
        # when the request is repeated.
        outcomes = await anyio.to_thread.run_sync(
            peers.on_others, node, "POST", "/index/drop", body
        )
        for item in outcomes.values():
            if isinstance(item, ServerError):
                raise item
        dropped = dropped or any(_said(item, "dropped") for item in outcomes.values())
    return json_response({"success": True, "dropped": dropped, **definition.to_json()})


def _said(outcome: peers.Outcome, name: str) -> bool:
    return isinstance(outcome, dict) and outcome.get(name) is True


async def list_indexes(request: Request) -> Response:
    collection = request.query_params.get("table", "")
    namespace = request.query_params.get("namespace") or DEFAULT_NAMESPACE
    check_segment(collection, "table")
    definitions = node_of(request).catalog.for_collection(namespace, collection)
    return json_response({"indexes": [d.to_json() for d in definitions]})


routes = [
    Route("/index/create", create_index, methods=["POST"]),
    Route("/index/drop", drop_index, methods=["POST"]),
    Route("/index/list", list_indexes, methods=["GET"]),
]
