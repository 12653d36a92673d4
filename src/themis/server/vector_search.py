"""The vector search route: nearest neighbours, cursor pages, and searches inside
transactions over the whole cluster."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from themis import _json
from themis.server import shard_parts
from themis.server.entities import reader
from themis.server.errors import BadRequest
from themis.server.http import PEER_HEADER, json_response, read_object
from themis.server.state import node_of
from themis.server.storage_ops import ReadView
from themis.server.transaction_routes import transaction_of
from themis.server.transactions import Isolation, Transaction
from themis.server.vector_filters import check_filter
from themis.server.vector_index import VectorIndex
from themis.server.vector_requests import bounded, catalog, index_of, place
from themis.server.vector_spec import Matrix, score_of, vector_of
from themis.server.vectors import read_documents, seen_hits

MAX_K = 10_000
DEFAULT_BATCH_SIZE = 100


async def search(request: Request) -> Response:
    """``POST /vector/search``."""
    body = await read_object(request)
    namespace, collection = place(body, required=False)
    node = node_of(request)
    k = bounded(body, "k", 10, MAX_K)
    only = check_filter(body["filter"]) if body.get("filter") is not None else None
    include = body.get("include_document") is True
    index = catalog(node).get(namespace, collection)
    txn = transaction_of(request)
    if txn is not None:
        results = await _search_in_transaction(request, index, k, only, body)
        vector: Any = body.get("vector")
    else:
        index = index_of(node, namespace, collection)
        query, vector = _query(index, body)
        hits = await asyncio.to_thread(index.search, query, k, only)
        with node.storage.snapshot() as view:
            results = _results(view, index, hits, include)
    if body.get("use_cursor") is True or body.get("cursor") is not None:
        binding = _json.dumps([namespace, collection, vector, k, only, include])
        return json_response(_page(catalog(node).secret, body, results, binding))
    answer: dict[str, Any] = {"results": results, "k": k, "count": len(results)}
    if index is None:
        # Only a transaction's part gets here: it holds none of the collection.
        answer["indexed"] = False
    return json_response(answer)


def _query(index: VectorIndex, body: dict[str, Any]) -> tuple[Matrix, list[float]]:
    """The request's vector, checked against the index, and its stored form."""
    raw_vector = body.get("vector")
    if raw_vector is None:
        raise BadRequest("missing required field 'vector'")
    vector = vector_of(raw_vector, index.spec.dimension)
    if isinstance(vector, str):
        raise BadRequest(f"invalid 'vector': {vector}")
    query = index.prepare(vector)
    if query is None:
        raise BadRequest("invalid 'vector': a zero vector has no direction for cosine")
    return query, vector


async def _search_in_transaction(
    request: Request,
    index: VectorIndex | None,
    k: int,
    only: dict[str, Any] | None,
    body: dict[str, Any],
) -> list[dict[str, Any]]:
    """The hits as the request's transaction sees the data of the whole cluster.

    The index follows committed writes. A ``read_committed`` transaction sees those
    too, so the index's hits are corrected by the transaction's own writes; a
    ``snapshot`` may be older than the index, so its documents are ranked one by
    one. The other shards answer through the transaction's parts there; a shard
    without the collection's index holds none of its vectors.

    Raises:
        NotFound: no shard has an index on the collection.
    """
    node = node_of(request)
    txn = transaction_of(request)
    assert txn is not None
    from_peer = PEER_HEADER in request.headers
    results: list[dict[str, Any]] = []
    if index is not None:
        results = await anyio.to_thread.run_sync(
            _seen_results, request, txn, index, k, only, body
        )
    elif not from_peer and len(node.peers()) < 2:
        index_of(node, *place(body, required=False))
    if from_peer:
        return results
    asked = {key: body[key] for key in _PART_FIELDS if body.get(key) is not None}
    answers = await anyio.to_thread.run_sync(
        shard_parts.ask_parts, node, txn, "/vector/search", {**asked, "k": k}
    )
    if index is None and all(answer.get("indexed") is False for answer in answers):
        index_of(node, *place(body, required=False))
    for answer in answers:
        results += answer.get("results") or []
    results.sort(key=lambda hit: (hit["distance"], hit["pk"]))
    return results[:k]


def _seen_results(
    request: Request,
    txn: Transaction,
    index: VectorIndex,
    k: int,
    only: dict[str, Any] | None,
    body: dict[str, Any],
) -> list[dict[str, Any]]:
    """This shard's hits as the transaction sees them (see `vectors.seen_hits`)."""
    query, _ = _query(index, body)
    own = dict(txn.writes) if txn.isolation is Isolation.READ_COMMITTED else None
    with reader(request) as view:
        hits = seen_hits(index, view, own, query, k, only)
        return _results(view, index, hits, body.get("include_document") is True)


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
    batch_size = bounded(body, "batch_size", DEFAULT_BATCH_SIZE, MAX_K)
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
