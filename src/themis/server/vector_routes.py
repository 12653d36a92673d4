"""Vector routes: index management and batch insert (search: `vector_search`)."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from themis import _json
from themis.server import peers, shard_parts
from themis.server.errors import BadRequest, Conflict, NotFound, ServerError
from themis.server.http import field, json_response, read_object
from themis.server.keys import DocKey, check_segment, parse_key
from themis.server.state import node_of
from themis.server.storage_ops import Put
from themis.server.transaction_routes import refuse_transaction, transaction_of
from themis.server.vector_definitions import DEFINE_PATH, agreed, define_here
from themis.server.vector_index import VectorIndex
from themis.server.vector_requests import (
    bounded,
    catalog,
    checked_name,
    index_of,
    no_index,
    place,
)
from themis.server.vector_search import search
from themis.server.vector_spec import METRICS, IndexSpec, vector_of

MAX_DIMENSION = 65_536
MAX_ITEMS = 10_000
MAX_EF = 10_000
MAX_M = 128


# --- index management -------------------------------------------------------------


async def create_index(request: Request) -> Response:
    refuse_transaction(request, "creating a vector index")
    spec = requested_spec(await read_object(request))
    node = node_of(request)
    existed = catalog(node).get(spec.namespace, spec.collection) is not None
    decided = await agreed(node, spec)
    if not decided.same_shape(spec):
        raise Conflict(
            f"a vector index on {spec.collection!r} already exists with dimension "
            f"{decided.dimension}, metric {decided.metric!r} and field "
            f"{decided.field!r}"
        )
    index = index_of(node, spec.namespace, spec.collection)
    return json_response(_config(index), 200 if existed else 201)


async def define(request: Request) -> Response:
    """Another shard asks this one, the collection's home, for its definition."""
    spec = requested_spec(await read_object(request))
    return json_response({"spec": asdict(await define_here(node_of(request), spec))})


def requested_spec(body: dict[str, Any]) -> IndexSpec:
    """A vector index definition as ``POST /vector/index`` takes it.

    Raises:
        BadRequest: a field is missing or out of range.
    """
    namespace, collection = place(body, required=True)
    dimension = field(body, "dimension", int)
    if not 1 <= dimension <= MAX_DIMENSION:
        raise BadRequest(
            f"expected 'dimension' between 1 and {MAX_DIMENSION}, received {dimension}"
        )
    return IndexSpec(
        namespace,
        collection,
        dimension,
        metric=_metric(body),
        field=checked_name(body, "field", "embedding"),
        **_tuning(body),
    )


async def get_config(request: Request) -> Response:
    return json_response(_config(_queried_index(request)))


async def get_stats(request: Request) -> Response:
    index = _queried_index(request)
    return json_response({**_config(index), "vectorCount": len(index)})


async def put_config(request: Request) -> Response:
    refuse_transaction(request, "changing a vector index")
    body = await read_object(request)
    ef_search = field(body, "efSearch", int)
    if not 1 <= ef_search <= MAX_EF:
        raise BadRequest(
            f"expected 'efSearch' between 1 and {MAX_EF}, received {ef_search}"
        )
    node = node_of(request)
    asked = {**request.query_params, **body}
    namespace, collection = place(asked, required=False)
    index = catalog(node).get(namespace, collection)
    found = index is not None
    if index is not None:
        spec = replace(index.spec, ef_search=ef_search)
        await node.storage.write_async([spec.put()])
    if peers.whole_cluster(request):
        # Every shard holding the index searches it alike; those without it have
        # nothing to change.
        outcomes = await anyio.to_thread.run_sync(
            peers.on_others, node, "PUT", "/vector/index/config", asked
        )
        for outcome in outcomes.values():
            if isinstance(outcome, ServerError) and not isinstance(outcome, NotFound):
                raise outcome
        found = found or any(isinstance(item, dict) for item in outcomes.values())
    if not found:
        raise no_index(namespace, collection)
    return json_response(
        {"message": "vector index config updated", "updated_fields": body}
    )


def _config(index: VectorIndex) -> dict[str, Any]:
    spec = index.spec
    return {
        "objectName": spec.collection,
        "namespace": spec.namespace,
        "field": spec.field,
        "dimension": spec.dimension,
        "metric": spec.metric.upper(),
        "efSearch": spec.ef_search,
        "M": spec.m,
        "efConstruction": spec.ef_construction,
        "hnswEnabled": index.uses_hnsw,
    }


def _queried_index(request: Request, body: dict[str, Any] | None = None) -> VectorIndex:
    source = {**request.query_params, **(body or {})}
    namespace, collection = place(source, required=False)
    return index_of(node_of(request), namespace, collection)


# --- batch insert -----------------------------------------------------------------


async def batch_insert(request: Request) -> Response:
    body = await read_object(request)
    namespace, collection = place(body, required=False)
    items: list[Any] = field(body, "items", list)
    if not items:
        raise BadRequest("expected 'items' to hold at least one item, received []")
    if len(items) > MAX_ITEMS:
        raise BadRequest(f"expected at most {MAX_ITEMS} items, received {len(items)}")
    node = node_of(request)
    existing = catalog(node).get(namespace, collection)
    # An empty index has len() 0, so it is tested against None, never for truth.
    vector_field = checked_name(
        body,
        "vector_field",
        existing.spec.field if existing is not None else "embedding",
    )
    spec = (
        existing.spec
        if existing is not None
        else await agreed(
            node, _inferred_spec(body, items, namespace, collection, vector_field)
        )
    )
    if spec.field != vector_field or (
        body.get("metric") and _metric(body) != spec.metric
    ):
        raise Conflict(
            f"the vector index on {collection!r} uses field {spec.field!r} and metric "
            f"{spec.metric!r}, received field {vector_field!r} and metric "
            f"{body.get('metric')!r}"
        )
    items_ok: list[tuple[int, DocKey, bytes]] = []
    details: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        try:
            items_ok.append((position, *_item_document(item, position, spec)))
        except ServerError as exc:
            details.append({"pk": _pk_label(item, position), "message": exc.message})
    inserted = len(items_ok)
    txn = transaction_of(request)
    # The index is defined by now, outside any transaction: definitions are not
    # transactional, and in one the documents join the index when it commits.
    if txn is None:
        if inserted:
            ops = [Put("docs", key.storage(), blob) for _, key, blob in items_ok]
            await node.storage.write_async(ops)
    elif inserted:
        await _insert_in_transaction(request, body, items, items_ok)
    return json_response(
        {
            "inserted": inserted,
            "errors": len(details),
            "error_details": details,
            "objectName": collection,
            "dimension": spec.dimension,
        }
    )


async def _insert_in_transaction(
    request: Request,
    body: dict[str, Any],
    items: list[Any],
    checked: list[tuple[int, DocKey, bytes]],
) -> None:
    """Buffers checked items in the request's transaction.

    Items another shard owns go to the transaction's part there as a batch insert
    of their own, so that shard defines the index too.
    """
    node = node_of(request)
    txn = transaction_of(request)
    assert txn is not None
    owners = shard_parts.foreign_owners(node, [key.wire for _, key, _ in checked])
    bodies: dict[str, dict[str, Any]] = {}
    for index, (position, _, _) in enumerate(checked):
        if index in owners:
            part = bodies.setdefault(owners[index], {**body, "items": []})
            part["items"].append(items[position])
    if bodies:
        await anyio.to_thread.run_sync(
            shard_parts.write_parts, node, txn, "/vector/batch_insert", bodies
        )
    for index, (_, key, blob) in enumerate(checked):
        if index not in owners:
            txn.put(key, blob)


def _inferred_spec(
    body: dict[str, Any], items: list[Any], namespace: str, collection: str, name: str
) -> IndexSpec:
    for item in items:
        if isinstance(item, dict):
            vector = vector_of(item.get("vector"), None)
            if not isinstance(vector, str) and len(vector) <= MAX_DIMENSION:
                return IndexSpec(
                    namespace, collection, len(vector), _metric(body), name
                )
    raise BadRequest(
        "could not infer the dimension: expected at least one item with a non-empty "
        "numeric 'vector'"
    )


def _item_document(item: Any, position: int, spec: IndexSpec) -> tuple[DocKey, bytes]:
    if not isinstance(item, dict):
        raise BadRequest(
            f"expected item {position} to be an object, received {type(item).__name__}"
        )
    pk = field(item, "pk", str)
    check_segment(pk, "pk")
    key = parse_key(f"vector.{spec.namespace}.{spec.collection}:{pk}")
    vector = vector_of(item.get("vector"), spec.dimension)
    if isinstance(vector, str):
        raise BadRequest(f"invalid 'vector' of pk {pk!r}: {vector}")
    if spec.metric == "cosine" and not any(vector):
        raise BadRequest(
            f"invalid 'vector' of pk {pk!r}: a zero vector has no direction for cosine"
        )
    fields = item.get("fields") or {}
    if not isinstance(fields, dict):
        raise BadRequest(
            f"expected 'fields' of pk {pk!r} to be an object, "
            f"received {type(fields).__name__}"
        )
    doc = {**fields, spec.field: item["vector"]}
    return key, _json.dumps(doc)


def _pk_label(item: Any, position: int) -> str:
    if isinstance(item, dict) and isinstance(item.get("pk"), str):
        return str(item["pk"])
    return f"#{position}"


# --- search -----------------------------------------------------------------------


# --- request parsing --------------------------------------------------------------


def _metric(body: dict[str, Any]) -> str:
    value = body.get("metric")
    if value is None:
        return "cosine"
    if not isinstance(value, str) or value.lower() not in METRICS:
        raise BadRequest(
            f"expected 'metric' to be one of {', '.join(METRICS)}, received {value!r}"
        )
    return value.lower()


_TUNING = {
    "efSearch": ("ef_search", MAX_EF),
    "M": ("m", MAX_M),
    "efConstruction": ("ef_construction", MAX_EF),
}


def _tuning(body: dict[str, Any]) -> dict[str, int]:
    """The HNSW parameters a request sets, by `IndexSpec` field name."""
    return {
        name: bounded(body, wire, 0, limit)
        for wire, (name, limit) in _TUNING.items()
        if body.get(wire) is not None
    }


routes = [
    Route("/vector/index", create_index, methods=["POST"]),
    Route("/vector/index/config", get_config, methods=["GET"]),
    Route("/vector/index/config", put_config, methods=["PUT"]),
    Route("/vector/index/stats", get_stats, methods=["GET"]),
    Route("/vector/batch_insert", batch_insert, methods=["POST"]),
    Route("/vector/search", search, methods=["POST"]),
    Route(DEFINE_PATH, define, methods=["POST"]),
]
