"""Vector inserts and searches over the shards.

Each item is stored as the document ``vector.{namespace}.{collection}:{pk}`` and goes
to the shard owning that key, as any other SDK call on the document would route it.
A search asks every shard for its own top-k and keeps the nearest ``top_k`` overall.
Pages of a search over several shards are cut by the SDK from that global top-k, so
they concatenate to exactly the unpaged result; their tokens are the SDK's own
(``v1.`` + urlsafe-base64 JSON ``{"o": offset, "h": search digest}``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from themis import _routing
from themis._core import query
from themis._core.effects import (
    LOAD_TOPOLOGY,
    Call,
    Operation,
    Outcome,
    Parallel,
    Reply,
)
from themis._core.topology import Topology
from themis.errors import NotFoundError
from themis.results import QueryResult

__all__ = ["DEFAULT_COLLECTION", "DEFAULT_PAGE", "vector_insert", "vector_search"]

DEFAULT_COLLECTION = "vectors"
"""The collection a node uses when a request names none."""

DEFAULT_PAGE = 100
"""The page size of a paged search when none is given (a node's default too)."""

_TOKEN = "v1."


def vector_insert(
    items: Iterable[Mapping[str, Any]],
    namespace: str,
    collection: str | None,
    vector_field: str,
) -> Operation[dict[str, Any]]:
    """``POST /vector/batch_insert`` once per shard owning some items' documents.

    Returns:
        ``{"inserted", "errors", "error_count"}`` summed over shards: ``errors``
        lists what each refused item got (a themis node's ``{"pk", "message"}``),
        whether a node reports its errors as a list or as a count with details.

    Raises:
        ValueError: An item has no string ``pk`` or no ``vector``.
    """
    rows = [_row(item, index) for index, item in enumerate(items)]
    topology: Topology = yield LOAD_TOPOLOGY
    table = collection or DEFAULT_COLLECTION
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        # Not validated here: a node reports a bad pk per item in 'error_details'.
        key = f"vector.{namespace}.{table}:{row['pk']}"
        owner = _routing.owner(topology.shard_ids, _routing.routing_key(key))
        groups.setdefault(owner, []).append(row)
    ops = [
        _insert(shard_id, group, namespace, collection, vector_field)
        for shard_id, group in groups.items()
    ]
    outcomes: list[Outcome] = yield Parallel(ops)
    return _summary([outcome.unwrap() for outcome in outcomes])


def _row(item: Mapping[str, Any], index: int) -> dict[str, Any]:
    pk = item.get("pk")
    vector = item.get("vector")
    if not isinstance(pk, str) or not pk or not isinstance(vector, list | tuple):
        raise ValueError(
            f"expected item {index} to have a string 'pk' and a list 'vector', "
            f"got {dict(item)!r:.200}"
        )
    return {
        "pk": pk,
        "vector": [float(x) for x in vector],
        "fields": dict(item.get("fields") or {}),
    }


def _insert(
    shard_id: str,
    rows: list[dict[str, Any]],
    namespace: str,
    collection: str | None,
    vector_field: str,
) -> Operation[dict[str, Any]]:
    body: dict[str, Any] = {
        "vector_field": vector_field,
        "items": rows,
        "namespace": namespace,
    }
    if collection is not None:
        body["collection"] = collection
    reply: Reply = yield Call(
        "POST", "/vector/batch_insert", body=body, shard_id=shard_id
    )
    return reply.object()


def _summary(answers: list[dict[str, Any]]) -> dict[str, Any]:
    inserted = 0
    errors: list[Any] = []
    error_count = 0
    for answer in answers:
        inserted += int(answer.get("inserted", 0))
        reported = answer.get("errors", [])
        if isinstance(reported, list):
            errors.extend(reported)
            error_count += len(reported)
        elif isinstance(reported, int):
            error_count += reported
            details = answer.get("error_details")
            if isinstance(details, list):
                errors.extend(details)
    return {"inserted": inserted, "errors": errors, "error_count": error_count}


def vector_search(
    body: Mapping[str, Any],
    top_k: int,
    use_cursor: bool,
    cursor: str | None,
    batch_size: int | None,
) -> Operation[QueryResult]:
    """Searches every shard and keeps the nearest ``top_k`` hits overall.

    Args:
        body: The ``/vector/search`` body without cursor fields.
        top_k: How many hits the whole search returns.
        use_cursor: Whether to answer one page instead of every hit.
        cursor: The token of the page to fetch, if any.
        batch_size: The page size (default :data:`DEFAULT_PAGE`).

    Raises:
        ValueError: ``cursor`` did not come from this search.
    """
    topology: Topology = yield LOAD_TOPOLOGY
    if len(topology.shards) == 1:
        shard_body = dict(body, use_cursor=use_cursor)
        if cursor is not None:
            shard_body["cursor"] = cursor
        if batch_size is not None:
            shard_body["batch_size"] = batch_size
        call = Call(
            "POST", "/vector/search", body=shard_body, shard_id=topology.shards[0].id
        )
        reply: Reply = yield call
        return query.page_from_payload(reply.object())
    digest = _digest(body)
    offset = 0 if cursor is None else _offset(cursor, digest)
    ops = [_nearest(shard_id, body) for shard_id in topology.shard_ids]
    outcomes: list[Outcome] = yield Parallel(ops)
    pages = [
        query.ShardPage(shard_id, outcome.unwrap())
        for shard_id, outcome in zip(topology.shard_ids, outcomes, strict=True)
        if not _holds_none(outcome)
    ]
    if not pages:
        # No shard has the collection's index: the first one's 404 says so.
        outcomes[0].unwrap()
    hits = query.NearestFirst(top_k).merge(pages)
    if not use_cursor:
        return QueryResult(items=hits, entities=list(hits), count=len(hits))
    return _page(hits, offset, batch_size or DEFAULT_PAGE, digest)


def _holds_none(outcome: Outcome) -> bool:
    """Whether a shard answered that it has no index on the collection.

    Each shard defines a collection's index with the first vector it stores, so a
    shard that holds none of a small collection's vectors has none.
    """
    return isinstance(outcome.error, NotFoundError)


def _nearest(shard_id: str, body: Mapping[str, Any]) -> Operation[QueryResult]:
    shard_body = dict(body, use_cursor=False)
    reply: Reply = yield Call(
        "POST", "/vector/search", body=shard_body, shard_id=shard_id
    )
    return query.page_from_payload(reply.object())


def _page(hits: list[Any], offset: int, size: int, digest: str) -> QueryResult:
    end = offset + size
    items = hits[offset:end]
    more = end < len(hits)
    return QueryResult(
        items=items,
        has_more=more,
        next_cursor=_token(end, digest) if more else None,
        entities=list(items),
        count=len(items),
    )


def _digest(body: Mapping[str, Any]) -> str:
    # A token resumes only the search it began: same vector, k, filter and place.
    canonical = orjson.dumps(dict(body), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:32]


def _token(offset: int, digest: str) -> str:
    raw = orjson.dumps({"o": offset, "h": digest})
    return _TOKEN + base64.urlsafe_b64encode(raw).decode()


def _offset(cursor: str, digest: str) -> int:
    payload: Any = None
    if cursor.startswith(_TOKEN):
        try:
            payload = orjson.loads(base64.urlsafe_b64decode(cursor[len(_TOKEN) :]))
        except (binascii.Error, ValueError):
            payload = None
    offset = payload.get("o") if isinstance(payload, dict) else None
    if not isinstance(offset, int) or offset < 0 or payload.get("h") != digest:
        raise ValueError(
            "expected a cursor returned by an earlier page of this vector search, "
            f"got {cursor[:80]!r}; restart the search without a cursor"
        )
    return offset
