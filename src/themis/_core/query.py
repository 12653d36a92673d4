"""Query and vector-search planning: routing, coordination and scatter-gather.

A query naming a ``urn:themis:`` resource runs on the shard owning the first such URN,
over that shard's data only (``scope: local``). Any other query goes to one node of
the cluster, chosen by rendezvous hashing of the query text, which coordinates it over
every shard with its own query engine, so that SORT, LIMIT, COLLECT and joins mean on
N shards what they mean on one. Its cursor tokens are wrapped with the coordinator's
shard id (``c1.urlsafe-base64(JSON {"s": shard id, "t": token})``) so that the
following pages return to it.

:func:`scatter` sends a query to every shard and a :class:`Merger` combines the
pages, folding the shards' tokens into one composite token
``urlsafe-base64(JSON {shard id: token or "done"})``; vector search merges with
:class:`NearestFirst` (see :mod:`themis._core.vectors`).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from themis import _routing
from themis._core.effects import (
    LOAD_TOPOLOGY,
    Call,
    Operation,
    Outcome,
    Parallel,
    Reply,
)
from themis._core.topology import Topology
from themis.results import QueryResult

__all__ = [
    "DONE",
    "Concatenate",
    "Merger",
    "NearestFirst",
    "ShardPage",
    "decode_cursor",
    "encode_cursor",
    "find_urn",
    "page_from_payload",
    "query",
    "query_body",
]

logger = logging.getLogger(__name__)

DONE = "done"
_URN = re.compile(r"urn:themis:[^\s'\"`,;()\[\]{}]+")


@dataclass(frozen=True)
class ShardPage:
    """One shard's answer within a scatter-gather."""

    shard_id: str
    result: QueryResult


class Merger(Protocol):
    """Combines the rows of several shards' pages into one page of rows."""

    def merge(self, pages: Sequence[ShardPage]) -> list[Any]:
        """Returns the rows of the combined page."""
        ...


class Concatenate:
    """Rows of each shard in turn, in topology order."""

    def merge(self, pages: Sequence[ShardPage]) -> list[Any]:
        """Returns every shard's rows, one shard after the other."""
        return [row for page in pages for row in page.result.items]


@dataclass(frozen=True)
class NearestFirst:
    """Vector hits by ascending ``distance`` (smaller is nearer), cut to ``top_k``.

    Equal distances go in ``pk`` order, as every node orders them.
    """

    top_k: int | None = None

    def merge(self, pages: Sequence[ShardPage]) -> list[Any]:
        """Returns the nearest hits over every shard."""
        rows = sorted(Concatenate().merge(pages), key=_nearness)
        return rows if self.top_k is None else rows[: self.top_k]


def _nearness(hit: Any) -> tuple[float, str]:
    if not isinstance(hit, dict):
        return float("inf"), ""
    value = hit.get("distance")
    distance = float(value) if isinstance(value, int | float) else float("inf")
    return distance, str(hit.get("pk", ""))


def find_urn(text: str) -> str | None:
    """Returns the first ``urn:themis:`` URN in a query, if any."""
    match = _URN.search(text)
    return match.group(0) if match else None


def page_from_payload(payload: Mapping[str, Any]) -> QueryResult:
    """Normalises one node's query or vector-search answer."""
    rows: Any = []
    for field in ("items", "entities", "result", "results"):
        if isinstance(payload.get(field), list):
            rows = payload[field]
            break
    next_cursor = payload.get("next_cursor")
    count = payload.get("count")
    missing = payload.get("missing_shards")
    return QueryResult(
        items=list(rows),
        has_more=bool(payload.get("has_more", False)),
        next_cursor=next_cursor
        if isinstance(next_cursor, str) and next_cursor
        else None,
        entities=list(rows),
        count=count if isinstance(count, int) else len(rows),
        raw=dict(payload),
        missing_shards=[str(s) for s in missing] if isinstance(missing, list) else [],
    )


def encode_cursor(tokens: Mapping[str, str]) -> str:
    """Folds per-shard tokens (or ``"done"``) into one opaque token."""
    return base64.urlsafe_b64encode(orjson.dumps(dict(tokens))).decode()


def decode_cursor(token: str, topology: Topology) -> dict[str, str]:
    """Unfolds a composite token.

    Raises:
        ValueError: The token was not made by :func:`encode_cursor`, or names a shard
            that is no longer in the topology.
    """
    try:
        tokens = orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError):
        tokens = None
    if not isinstance(tokens, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in tokens.items()
    ):
        raise ValueError(
            "expected a cursor returned by an earlier page of this query, "
            f"got {token[:80]!r}; restart the query without a cursor"
        )
    unknown = sorted(set(tokens) - set(topology.shard_ids))
    if unknown:
        raise ValueError(
            f"the cursor names shards {unknown} that topology version "
            f"{topology.version} no longer has; restart the query without a cursor"
        )
    return tokens


def query_body(
    aql: str,
    namespace: str,
    params: Mapping[str, Any] | None,
    use_cursor: bool,
    cursor: str | None,
    batch_size: int | None,
    allow_partial: bool = False,
) -> dict[str, Any]:
    """Returns the ``POST /query/aql`` body."""
    body: dict[str, Any] = {"query": aql, "namespace": namespace}
    if params is not None:
        body["params"] = dict(params)
    body.update(use_cursor=use_cursor, cursor=cursor, batch_size=batch_size)
    if allow_partial:
        body["allow_partial"] = True
    return body


MakeCall = Callable[[str | None, str | None], Call]


def query(
    aql: str,
    make_call: MakeCall,
    cursor: str | None,
    use_cursor: bool,
    merger: Merger | None = None,
) -> Operation[QueryResult]:
    """Runs a query on the URN's owner, or on every shard.

    Args:
        aql: The query text, searched for a URN.
        make_call: Builds the call for ``(shard id or None, cursor)``; a ``None`` shard
            id means "route by the URN".
        cursor: The token of the page to fetch, if any.
        use_cursor: Whether pages and tokens are wanted.
        merger: How to combine several shards' rows (default: concatenate).
    """
    urn = find_urn(aql)
    if urn is not None:
        reply: Reply = yield _routed(make_call(None, cursor), urn)
        return page_from_payload(reply.object())
    topology: Topology = yield LOAD_TOPOLOGY
    if len(topology.shards) == 1:
        reply = yield make_call(topology.shards[0].id, cursor)
        return page_from_payload(reply.object())
    if merger is not None:
        return (yield from scatter(topology, make_call, cursor, use_cursor, merger))
    if cursor is None:
        coordinator, reply = yield from _first_page(aql, make_call, topology)
    else:
        coordinator, token = decode_coordinated(cursor, topology)
        reply = yield make_call(coordinator, token)
    page = page_from_payload(reply.object())
    if page.next_cursor is not None:
        page.next_cursor = encode_coordinated(coordinator, page.next_cursor)
    return page


def _first_page(
    aql: str, make_call: MakeCall, topology: Topology
) -> Operation[tuple[str, Reply]]:
    """Asks the query's coordinator, or the next one in rendezvous order when the
    first cannot be reached: any node can coordinate, so one dead shard must not
    fail every query whose text happens to hash to it.
    """
    ranked = sorted(
        topology.shard_ids,
        key=lambda shard_id: (_routing.score(shard_id, aql), shard_id),
        reverse=True,
    )
    for coordinator in ranked[:-1]:
        try:
            reply: Reply = yield make_call(coordinator, None)
        except httpx.TransportError as exc:
            logger.info(
                "coordinator %r unreachable (%s); trying the next", coordinator, exc
            )
            continue
        return coordinator, reply
    return ranked[-1], (yield make_call(ranked[-1], None))


_COORDINATED = "c1."


def encode_coordinated(shard_id: str, token: str) -> str:
    """Wraps a coordinator's token with its shard id."""
    raw = orjson.dumps({"s": shard_id, "t": token})
    return _COORDINATED + base64.urlsafe_b64encode(raw).decode()


def decode_coordinated(cursor: str, topology: Topology) -> tuple[str, str]:
    """Unwraps a token made by :func:`encode_coordinated`.

    Raises:
        ValueError: The token is not such a token, or names a shard that the
            topology no longer has.
    """
    payload: Any = None
    if cursor.startswith(_COORDINATED):
        try:
            raw = base64.urlsafe_b64decode(cursor[len(_COORDINATED) :].encode())
            payload = orjson.loads(raw)
        except (binascii.Error, ValueError):
            payload = None
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(name), str) for name in ("s", "t")
    ):
        raise ValueError(
            "expected a cursor returned by an earlier page of this query, "
            f"got {cursor[:80]!r}; restart the query without a cursor"
        )
    if payload["s"] not in topology.shard_ids:
        raise ValueError(
            f"the cursor's coordinator {payload['s']!r} is not in topology version "
            f"{topology.version}; restart the query without a cursor"
        )
    return str(payload["s"]), str(payload["t"])


def _routed(call: Call, urn: str) -> Call:
    body = dict(call.body or {}) if isinstance(call.body, Mapping) else call.body
    if isinstance(body, dict):
        # The URN names one shard's data: no coordination over the cluster.
        body["scope"] = "local"
    return Call(call.method, call.path, body=body, route_key=urn, headers=call.headers)


def scatter(
    topology: Topology,
    make_call: MakeCall,
    cursor: str | None,
    use_cursor: bool,
    merger: Merger | None = None,
) -> Operation[QueryResult]:
    """Sends a query to every shard and combines the answers."""
    if len(topology.shards) == 1:
        reply: Reply = yield make_call(topology.shards[0].id, cursor)
        return page_from_payload(reply.object())
    if cursor is not None:
        tokens: dict[str, str | None] = dict(decode_cursor(cursor, topology))
    else:
        tokens = dict.fromkeys(topology.shard_ids)
    active = [shard_id for shard_id, token in tokens.items() if token != DONE]
    outcomes: list[Outcome] = yield Parallel(
        [_fetch(make_call(shard_id, tokens[shard_id])) for shard_id in active]
    )
    pages = [
        ShardPage(shard_id, outcome.unwrap())
        for shard_id, outcome in zip(active, outcomes, strict=True)
    ]
    return _combine(pages, tokens, use_cursor, merger or Concatenate())


def _fetch(call: Call) -> Operation[QueryResult]:
    reply: Reply = yield call
    return page_from_payload(reply.object())


def _combine(
    pages: Sequence[ShardPage],
    tokens: Mapping[str, str | None],
    use_cursor: bool,
    merger: Merger,
) -> QueryResult:
    rows = merger.merge(pages)
    result = QueryResult(
        items=rows,
        entities=list(rows),
        count=sum(page.result.count for page in pages),
        raw={"shards": {page.shard_id: page.result.raw for page in pages}},
    )
    if not use_cursor:
        return result
    following = {shard_id: DONE for shard_id in tokens}
    for page in pages:
        # A shard claiming more rows without a token could never be resumed.
        if page.result.has_more and page.result.next_cursor:
            following[page.shard_id] = page.result.next_cursor
    result.has_more = any(token != DONE for token in following.values())
    result.next_cursor = encode_cursor(following) if result.has_more else None
    return result
