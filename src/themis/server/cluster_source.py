"""The AQL engine's view of a whole cluster, for the node that coordinates a query.

The coordinator runs the complete query with its own engine over this source, so a
query on N shards means exactly what it means on one node: SORT, LIMIT, COLLECT,
DISTINCT, joins and subqueries see the union of every shard. What crosses the network
is kept small by pushing the work that can be done per shard down to the shards:
FILTER conditions on the loop variable (equality and ranges) run there as shard-local
queries, and ordered reads come back sorted from every shard and are merged lazily, so
``SORT ... LIMIT n`` pulls about n rows per shard instead of whole collections.
A leading ``FOR ... FILTER ... COLLECT ... AGGREGATE`` runs on every shard as a
partial aggregation, so one row per group and shard crosses the network. Similarity
ranking (``SORT COSINE_SIMILARITY(d.v, @q) DESC LIMIT n``) asks every shard for its
own n nearest, through its vector index where it has one, and keeps the best n.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from themis import _json, _routing
from themis.aql import Bound, GraphDefinition, IndexInfo, SourceFailure
from themis.aql._pushdown import PartialQuery
from themis.aql._values import sort_key
from themis.server.documents import decode_document
from themis.server.errors import ServerError, Unavailable
from themis.server.keys import DocKey, parse_key
from themis.server.query_source import SnapshotSource
from themis.server.shard_streams import FIRST_PAGE, LARGEST_PAGE, StreamGroup

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Peer:
    """A shard of the cluster."""

    shard_id: str
    url: str


@dataclass
class ShardFailures:
    """Shards that failed during one query, when partial results are allowed."""

    allow_partial: bool
    missing: list[str] = field(default_factory=list)

    def handle(self, peer: Peer, exc: Exception) -> None:
        """Record a failed shard, or fail the query naming it.

        Raises:
            Unavailable: partial results were not asked for.
        """
        if not self.allow_partial:
            raise ShardUnavailable(
                f"shard {peer.shard_id!r} at {peer.url} did not answer: {exc}; "
                "retry, or ask for partial results with 'allow_partial': true"
            ) from exc
        if peer.shard_id not in self.missing:
            self.missing.append(peer.shard_id)


class ClusterSource:
    """Implements the AQL `DataSource` protocol over every shard of a cluster.

    Args:
        peers: Every shard except the coordinator itself.
        local: The coordinator's own shard, read directly.
        local_id: The coordinator's shard id.
        shard_ids: Every shard id, for routing document lookups.
        namespace: The namespace collection names resolve in.
        http: The client peers are called with.
        failures: Where shard failures go.
        pool: Threads that fetch the shards' first pages side by side.
    """

    pushes_down_filters = True

    def __init__(
        self,
        *,
        peers: Sequence[Peer],
        local: SnapshotSource,
        local_id: str,
        shard_ids: Sequence[str],
        namespace: str,
        http: httpx.Client,
        failures: ShardFailures,
        pool: Executor,
        headers: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._pool = pool
        # Extra headers of the requests to each shard, by shard id: a transaction's
        # own id on that shard.
        self._headers = headers or {}
        self._peers = list(peers)
        self._local = local
        self._local_id = local_id
        self._shard_ids = list(shard_ids)
        self._namespace = namespace
        self._http = http
        self._failures = failures
        self._collections: dict[str, set[str]] | None = None

    def has_collection(self, name: str) -> bool:
        return self._local.has_collection(name) or bool(self._holders(name))

    def scan(self, name: str) -> Iterator[dict[str, Any]]:
        binds = {"@c": name}
        streams = self._streams(self._holders(name), _SCAN, binds)
        if self._local.has_collection(name):
            streams.append(self._local.scan(name))
        return heapq.merge(*streams, key=_key_order)

    def index_scan(
        self,
        name: str,
        field: tuple[str, ...],
        low: Bound | None,
        high: Bound | None,
        descending: bool = False,
    ) -> Iterator[dict[str, Any]]:
        text, binds = _range_query(name, field, low, high, descending)
        streams = self._streams(self._holders(name), text, binds)
        if self._local.has_collection(name):
            streams.append(self._local_rows(text, binds))
        order = _field_order(field)
        return heapq.merge(*streams, key=order, reverse=descending)

    def aggregate(self, name: str, query: PartialQuery) -> Iterator[list[Any]]:
        """Return every shard's partial groups for a pushed-down COLLECT."""
        binds = dict(query.binds)
        streams = self._streams(self._holders(name), query.text, binds, LARGEST_PAGE)
        if self._local.has_collection(name):
            streams.append(self._local_rows(query.text, binds))
        return itertools.chain.from_iterable(streams)

    def serves_nearest(self, name: str, path: tuple[str, ...], metric: str) -> bool:
        """Whether `nearest` pushes this ranking down to the shards."""
        return metric in _SIMILARITY and len(path) == 1 and _is_identifier(path[0])

    def nearest(
        self,
        name: str,
        path: tuple[str, ...],
        vector: Any,
        metric: str,
        k: int,
    ) -> list[dict[str, Any]] | None:
        """The `k` documents nearest `vector` over every shard, best first.

        Each shard ranks its own documents, with its vector index where it has one,
        and sends its best `k`; a document none of them sent is no nearer than the
        farthest one kept. Answers None where the ordinary plan must run instead.
        """
        if not self.serves_nearest(name, path, metric) or not _is_vector(vector):
            return None
        function, direction = _SIMILARITY[metric]
        text = (
            f"FOR d IN @@c SORT {function}(d.{path[0]}, @q) {direction} "
            "LIMIT @k RETURN d"
        )
        binds = {"@c": name, "q": vector, "k": k}
        page = max(FIRST_PAGE, min(k, LARGEST_PAGE))
        streams = self._streams(self._holders(name), text, binds, page)
        if self._local.has_collection(name):
            streams.append(self._local_rows(text, binds))
        docs = list(itertools.chain.from_iterable(streams))
        distance = _distance(metric, path[0], vector)
        docs.sort(key=lambda doc: (distance(doc), str(doc["_key"])))
        return docs[:k]

    def document(self, doc_id: str) -> dict[str, Any] | None:
        return self.documents([doc_id])[0]

    def documents(self, doc_ids: Sequence[str]) -> list[dict[str, Any] | None]:
        found: list[dict[str, Any] | None] = [None] * len(doc_ids)
        by_owner: dict[str, list[tuple[int, DocKey]]] = {}
        for position, doc_id in enumerate(doc_ids):
            try:
                key = parse_key(doc_id)
            except ServerError:
                continue
            owner = _routing.owner(self._shard_ids, _routing.routing_key(key.wire))
            by_owner.setdefault(owner, []).append((position, key))
        for owner, wanted in by_owner.items():
            keys = [key for _, key in wanted]
            docs = (
                self._local.documents([key.wire for key in keys])
                if owner == self._local_id
                else self._peer_documents(owner, keys)
            )
            for (position, _), doc in zip(wanted, docs, strict=True):
                found[position] = doc
        return found

    def _peer_documents(
        self, owner: str, keys: list[DocKey]
    ) -> list[dict[str, Any] | None]:
        """Reads documents from the shard that owns them, in one request."""
        peer = next((p for p in self._peers if p.shard_id == owner), None)
        if peer is None:
            return [None] * len(keys)
        texts: list[str | None] = []
        for start in range(0, len(keys), _DOCUMENTS_PER_REQUEST):
            part = keys[start : start + _DOCUMENTS_PER_REQUEST]
            body = {"keys": [key.wire for key in part], "positional": True}
            try:
                response = self._http.post(
                    f"{peer.url}/batch/get",
                    content=_json.dumps(body),
                    headers=self._headers.get(peer.shard_id),
                )
                response.raise_for_status()
            except httpx.HTTPError as exc:
                self._failures.handle(peer, exc)
                return [None] * len(keys)
            texts += _json.loads(response.content)["documents"]
        return [
            None if text is None else decode_document(key, text.encode())
            for key, text in zip(keys, texts, strict=True)
        ]

    def edges(
        self, vertex_id: str, direction: str, collection: str | None
    ) -> Iterator[dict[str, Any]]:
        found = list(self._local.edges(vertex_id, direction, collection))
        body = {
            "vertex": vertex_id,
            "direction": direction,
            "collection": collection,
            "namespace": self._namespace,
        }
        for _, reply in self._each_peer("POST", "/_internal/edges", body):
            found += reply["edges"]
        return iter(sorted(found, key=lambda edge: str(edge["_id"])))

    def _holders(self, name: str) -> list[Peer]:
        """The peers holding documents of a collection (asked once per query)."""
        if self._collections is None:
            self._collections = {}
            for peer, body in self._each_peer("GET", "/_internal/collections"):
                self._collections[peer.shard_id] = set(body["collections"])
        known = self._collections
        return [p for p in self._peers if name in known.get(p.shard_id, ())]

    def indexes(self, name: str) -> Sequence[IndexInfo]:
        return ()

    def graph(self, name: str) -> GraphDefinition | None:
        known = self._local.graph(name)
        if known is not None:
            return known
        path = "/_internal/graph/" + urllib.parse.quote(name, safe="")
        for _, body in self._each_peer("GET", path):
            if body.get("graph") is not None:
                collections = tuple(body["graph"]["edge_collections"])
                return GraphDefinition(name, collections)
        return None

    def _local_rows(self, text: str, binds: dict[str, Any]) -> Iterator[Any]:
        from themis.aql import compile_query

        yield from compile_query(text).execute(self._local, binds)

    def _streams(
        self,
        peers: list[Peer],
        text: str,
        binds: dict[str, Any],
        page: int = FIRST_PAGE,
    ) -> list[Iterator[Any]]:
        """The rows of a shard-local query on each peer, read ahead as one group."""
        group = StreamGroup(self._pool, self._post_page)
        body: dict[str, Any] = {
            "query": text,
            "bindVars": binds,
            "namespace": self._namespace,
            "scope": "local",
            "use_cursor": True,
        }
        return [group.open(peer, body, page) for peer in peers]

    def _post_page(self, peer: Peer, body: dict[str, Any]) -> dict[str, Any] | None:
        try:
            response = self._http.post(
                f"{peer.url}/query/aql",
                content=_json.dumps(body),
                headers=self._headers.get(peer.shard_id),
            )
        except httpx.HTTPError as exc:
            self._failures.handle(peer, exc)
            return None
        payload: dict[str, Any] = _json.loads(response.content)
        if response.status_code >= 500:
            self._failures.handle(peer, RuntimeError(payload.get("message")))
            return None
        if response.status_code != 200:
            raise ShardQueryError(peer, str(payload.get("message")))
        return payload

    def _each_peer(
        self, method: str, path: str, body: Any = None
    ) -> Iterable[tuple[Peer, dict[str, Any]]]:
        params = {"namespace": self._namespace}
        for peer in self._peers:
            try:
                content = None if body is None else _json.dumps(body)
                response = self._http.request(
                    method,
                    f"{peer.url}{path}",
                    params=params,
                    content=content,
                    headers=self._headers.get(peer.shard_id),
                )
                response.raise_for_status()
            except httpx.HTTPError as exc:
                self._failures.handle(peer, exc)
                continue
            yield peer, _json.loads(response.content)


class ShardUnavailable(Unavailable, SourceFailure):
    """A shard did not answer its part of a query (503)."""


class ShardQueryError(ServerError, SourceFailure):
    """A shard refused its part of a query (a 4xx it answered)."""

    status_code = 400

    def __init__(self, peer: Peer, message: str) -> None:
        super().__init__(f"shard {peer.shard_id!r} rejected its part: {message}")


_SCAN = "FOR d IN @@c RETURN d"
# Documents read from one shard per /batch/get, well under its limit of keys.
_DOCUMENTS_PER_REQUEST = 5000
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


_SIMILARITY = {"cosine": ("COSINE_SIMILARITY", "DESC"), "l2": ("L2_DISTANCE", "ASC")}


def _is_identifier(name: str) -> bool:
    return _IDENTIFIER.fullmatch(name) is not None


def _is_vector(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(type(item) in (int, float) and math.isfinite(item) for item in value)
    )


def _distance(
    metric: str, name: str, vector: list[float]
) -> Callable[[dict[str, Any]], float]:
    """Orders documents nearest first; those without a comparable vector go last."""
    query = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(query))

    def distance(doc: dict[str, Any]) -> float:
        value: Any = doc.get(name)
        if not _is_vector(value) or len(value) != len(query):
            return math.inf
        row = np.asarray(value, dtype=np.float64)
        if metric == "l2":
            return float(np.linalg.norm(row - query))
        scale = float(np.linalg.norm(row)) * norm
        return math.inf if scale == 0.0 else 1.0 - float(row @ query) / scale

    return distance


def _key_order(doc: dict[str, Any]) -> str:
    return str(doc["_key"])


def _field_order(path: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    def key(doc: dict[str, Any]) -> Any:
        value: Any = doc
        for name in path:
            value = value.get(name) if isinstance(value, dict) else None
        return (sort_key(value), str(doc["_key"]))

    return key


def _range_query(
    name: str,
    path: tuple[str, ...],
    low: Bound | None,
    high: Bound | None,
    descending: bool,
) -> tuple[str, dict[str, Any]]:
    binds: dict[str, Any] = {"@c": name}
    if all(_IDENTIFIER.fullmatch(part) for part in path):
        # A literal path lets the shard's planner pick its index; with d[@p0] it
        # cannot see the field and scans the whole collection.
        access = "d." + ".".join(path)
        tie_break = ""
    else:
        access = "d" + "".join(f"[@p{i}]" for i in range(len(path)))
        binds.update({f"p{i}": part for i, part in enumerate(path)})
        tie_break = ", d._key {direction}"
    filters = []
    if low is not None:
        filters.append(f"FILTER {access} {'>=' if low.inclusive else '>'} @low")
        binds["low"] = low.value
    if high is not None:
        filters.append(f"FILTER {access} {'<=' if high.inclusive else '<'} @high")
        binds["high"] = high.value
    direction = "DESC" if descending else "ASC"
    # One sort key is what an ordered index scan serves; the index already orders
    # equal values by key, as the merge expects.
    order = f"SORT {access} {direction}" + tie_break.format(direction=direction)
    return f"FOR d IN @@c {' '.join(filters)} {order} RETURN d", binds
