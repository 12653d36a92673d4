"""Vector routes: index management, batch insert and k-nearest-neighbour search."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from dataclasses import replace
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from themis import _json
from themis.server import shard_parts
from themis.server.entities import reader
from themis.server.errors import BadRequest, Conflict, NotFound, ServerError
from themis.server.http import PEER_HEADER, field, json_response, read_object
from themis.server.keys import DEFAULT_NAMESPACE, DocKey, check_segment, parse_key
from themis.server.state import NodeState, node_of
from themis.server.storage import Op, Put, ReadView
from themis.server.transaction_routes import refuse_transaction, transaction_of
from themis.server.transactions import Isolation
from themis.server.vector_filters import check_filter
from themis.server.vector_index import VectorIndex
from themis.server.vector_spec import METRICS, IndexSpec, Matrix, score_of, vector_of
from themis.server.vectors import VectorCatalog, read_documents, seen_hits

DEFAULT_COLLECTION = "vectors"
MAX_K = 10_000
MAX_DIMENSION = 65_536
MAX_ITEMS = 10_000
DEFAULT_BATCH_SIZE = 100
MAX_EF = 10_000
MAX_M = 128


def _catalog(node: NodeState) -> VectorCatalog:
    catalog: VectorCatalog = node.extensions["vectors"]
    return catalog


# --- index management -------------------------------------------------------------


async def create_index(request: Request) -> Response:
    refuse_transaction(request, "creating a vector index")
    body = await read_object(request)
    namespace, collection = _place(body, required=True)
    dimension = field(body, "dimension", int)
    if not 1 <= dimension <= MAX_DIMENSION:
        raise BadRequest(
            f"expected 'dimension' between 1 and {MAX_DIMENSION}, received {dimension}"
        )
    spec = IndexSpec(
        namespace,
        collection,
        dimension,
        metric=_metric(body),
        field=_name(body, "field", "embedding"),
        **_tuning(body),
    )
    node = node_of(request)
    existing = _catalog(node).get(namespace, collection)
    if existing is not None:
        if not existing.spec.same_shape(spec):
            raise Conflict(
                f"a vector index on {collection!r} already exists with dimension "
                f"{existing.spec.dimension}, metric {existing.spec.metric!r} and "
                f"field {existing.spec.field!r}"
            )
        return json_response(_config(existing))
    await node.storage.write_async([spec.put()])
    return json_response(_config(_index(node, namespace, collection)), 201)


async def get_config(request: Request) -> Response:
    return json_response(_config(_queried_index(request)))


async def get_stats(request: Request) -> Response:
    index = _queried_index(request)
    return json_response({**_config(index), "vectorCount": len(index)})


async def put_config(request: Request) -> Response:
    refuse_transaction(request, "changing a vector index")
    body = await read_object(request)
    index = _queried_index(request, body)
    ef_search = field(body, "efSearch", int)
    if not 1 <= ef_search <= MAX_EF:
        raise BadRequest(
            f"expected 'efSearch' between 1 and {MAX_EF}, received {ef_search}"
        )
    spec = replace(index.spec, ef_search=ef_search)
    await node_of(request).storage.write_async([spec.put()])
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
    namespace, collection = _place(source, required=False)
    return _index(node_of(request), namespace, collection)


def _index(node: NodeState, namespace: str, collection: str) -> VectorIndex:
    index = _catalog(node).get(namespace, collection)
    if index is None:
        raise NotFound(
            f"no vector index on collection {collection!r} in namespace "
            f"{namespace!r}; create one with POST /vector/index or "
            "POST /vector/batch_insert"
        )
    return index


# --- batch insert -----------------------------------------------------------------


async def batch_insert(request: Request) -> Response:
    body = await read_object(request)
    namespace, collection = _place(body, required=False)
    items: list[Any] = field(body, "items", list)
    if not items:
        raise BadRequest("expected 'items' to hold at least one item, received []")
    if len(items) > MAX_ITEMS:
        raise BadRequest(f"expected at most {MAX_ITEMS} items, received {len(items)}")
    node = node_of(request)
    existing = _catalog(node).get(namespace, collection)
    # An empty index has len() 0, so it is tested against None, never for truth.
    vector_field = _name(
        body,
        "vector_field",
        existing.spec.field if existing is not None else "embedding",
    )
    spec = (
        existing.spec
        if existing is not None
        else _inferred_spec(body, items, namespace, collection, vector_field)
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
    if txn is None:
        ops: list[Op] = [] if existing is not None else [spec.put()]
        ops += [Put("docs", key.storage(), blob) for _, key, blob in items_ok]
        if inserted:
            await node.storage.write_async(ops)
    elif inserted:
        if existing is None:
            # Index definitions are not transactional: the (empty) index exists from
            # now on, and the documents join it when the transaction commits.
            await node.storage.write_async([spec.put()])
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


async def search(request: Request) -> Response:
    body = await read_object(request)
    namespace, collection = _place(body, required=False)
    node = node_of(request)
    index = _index(node, namespace, collection)
    raw_vector = body.get("vector")
    if raw_vector is None:
        raise BadRequest("missing required field 'vector'")
    vector = vector_of(raw_vector, index.spec.dimension)
    if isinstance(vector, str):
        raise BadRequest(f"invalid 'vector': {vector}")
    query = index.prepare(vector)
    if query is None:
        raise BadRequest("invalid 'vector': a zero vector has no direction for cosine")
    k = _bounded(body, "k", 10, MAX_K)
    only = check_filter(body["filter"]) if body.get("filter") is not None else None
    include = body.get("include_document") is True
    txn = transaction_of(request)
    if txn is None:
        hits = await asyncio.to_thread(index.search, query, k, only)
        with node.storage.snapshot() as view:
            results = _results(view, index, hits, include)
    else:
        results = await _search_in_transaction(request, index, query, k, only, body)
    if body.get("use_cursor") is True or body.get("cursor") is not None:
        binding = _json.dumps([namespace, collection, vector, k, only, include])
        return json_response(_page(_catalog(node).secret, body, results, binding))
    return json_response({"results": results, "k": k, "count": len(results)})


async def _search_in_transaction(
    request: Request,
    index: VectorIndex,
    query: Matrix,
    k: int,
    only: dict[str, Any] | None,
    body: dict[str, Any],
) -> list[dict[str, Any]]:
    """The hits as the request's transaction sees the data of the whole cluster.

    The index follows committed writes. A ``read_committed`` transaction sees those
    too, so the index's hits are corrected by the transaction's own writes; a
    ``snapshot`` may be older than the index, so its documents are ranked one by
    one. The other shards answer through the transaction's parts there.
    """
    node = node_of(request)
    txn = transaction_of(request)
    assert txn is not None
    include = body.get("include_document") is True
    own = dict(txn.writes) if txn.isolation is Isolation.READ_COMMITTED else None

    def local() -> list[dict[str, Any]]:
        with reader(request) as view:
            hits = seen_hits(index, view, own, query, k, only)
            return _results(view, index, hits, include)

    results = await anyio.to_thread.run_sync(local)
    if PEER_HEADER in request.headers:
        return results
    asked = {key: body[key] for key in _PART_FIELDS if body.get(key) is not None}
    answers = await anyio.to_thread.run_sync(
        shard_parts.ask_parts, node, txn, "/vector/search", {**asked, "k": k}
    )
    for answer in answers:
        results += answer.get("results") or []
    results.sort(key=lambda hit: (hit["distance"], hit["pk"]))
    return results[:k]


_PART_FIELDS = ("vector", "filter", "namespace", "collection", "include_document")


def _results(
    view: ReadView, index: VectorIndex, hits: list[Any], include: bool
) -> list[dict[str, Any]]:
    metric = index.spec.metric
    results = [
        {
            "pk": hit.pk,
            "distance": hit.distance,
            "score": score_of(metric, hit.distance),
        }
        for hit in hits
    ]
    if include:
        docs = read_documents(view, [hit.key for hit in hits])
        for result, doc in zip(results, docs, strict=True):
            result["document"] = doc
    return results


def _page(
    secret: bytes, body: dict[str, Any], results: list[dict[str, Any]], binding: bytes
) -> dict[str, Any]:
    batch_size = _bounded(body, "batch_size", DEFAULT_BATCH_SIZE, MAX_K)
    offset = 0
    if body.get("cursor") is not None:
        offset = _offset(secret, body["cursor"], binding)
    end = offset + batch_size
    page: dict[str, Any] = {
        "items": results[offset:end],
        "has_more": end < len(results),
        "batch_size": batch_size,
    }
    if page["has_more"]:
        page["next_cursor"] = _token(secret, end, binding)
    return page


def _token(secret: bytes, offset: int, binding: bytes) -> str:
    # The signature covers the request, so a token only resumes the search it began.
    text = str(offset)
    mac = hmac.new(secret, text.encode() + b"|" + binding, hashlib.sha256).digest()
    return f"{text}.{base64.urlsafe_b64encode(mac[:16]).decode().rstrip('=')}"


def _offset(secret: bytes, token: Any, binding: bytes) -> int:
    ascii_token = isinstance(token, str) and token.isascii() and len(token) <= 64
    text = token.partition(".")[0] if ascii_token else ""
    if not text.isdigit() or not hmac.compare_digest(
        token, _token(secret, int(text), binding)
    ):
        raise BadRequest(
            "invalid cursor: expected a 'next_cursor' this node issued for the same "
            f"search, received {token!r:.80}"
        )
    return int(text)


# --- request parsing --------------------------------------------------------------


def _place(body: Any, *, required: bool) -> tuple[str, str]:
    if required and body.get("collection") is None:
        raise BadRequest("missing required field 'collection'")
    namespace = _name(body, "namespace", DEFAULT_NAMESPACE)
    return namespace, _name(body, "collection", DEFAULT_COLLECTION)


def _name(body: Any, name: str, default: str) -> str:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadRequest(
            f"expected field {name!r} to be str, received {type(value).__name__}"
        )
    check_segment(value, name)
    if "." in value or ":" in value:
        raise BadRequest(f"expected {name!r} without '.' or ':', received {value!r}")
    return value


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
        name: _bounded(body, wire, 0, limit)
        for wire, (name, limit) in _TUNING.items()
        if body.get(wire) is not None
    }


def _bounded(body: dict[str, Any], name: str, default: int, limit: int) -> int:
    if body.get(name) is None:
        return default
    value: int = field(body, name, int)
    if not 1 <= value <= limit:
        raise BadRequest(f"expected {name!r} between 1 and {limit}, received {value}")
    return value


routes = [
    Route("/vector/index", create_index, methods=["POST"]),
    Route("/vector/index/config", get_config, methods=["GET"]),
    Route("/vector/index/config", put_config, methods=["PUT"]),
    Route("/vector/index/stats", get_stats, methods=["GET"]),
    Route("/vector/batch_insert", batch_insert, methods=["POST"]),
    Route("/vector/search", search, methods=["POST"]),
]
