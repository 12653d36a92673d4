"""Everything a client knows besides its HTTP connection, and its operations.

Drivers (the sync and async clients) hold one :class:`Session`, ask it for an
operation per public method, and run the operation's effects.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urljoin

from themis import _keys
from themis._core import (
    batch,
    batch_fallback,
    batch_plan,
    protocol,
    query,
    traversal,
    vectors,
)
from themis._core.effects import LOAD_TOPOLOGY, Call, Operation, Reply
from themis._core.metadata import MetadataSource, fetch_topology
from themis._core.retry import RetryPolicy
from themis._core.topology import Topology, TopologyState, normalize_endpoint
from themis.errors import ThemisError
from themis.results import BatchGetResult, BatchWriteResult, QueryResult

__all__ = ["Session"]

DIRECTIONS = ("outbound", "inbound", "any")


class Session:
    """The sans-IO state of one client.

    Args:
        endpoints: Bootstrap base URLs.
        namespace: The namespace of every key and query.
        metadata_endpoint: Where the topology is read (see :class:`MetadataSource`).
        topology_ttl: Seconds before the topology is read again.
        retry: The retry policy.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        namespace: str,
        metadata_endpoint: str,
        topology_ttl: float,
        retry: RetryPolicy,
    ) -> None:
        if not endpoints:
            raise ValueError("endpoints must name at least one http(s):// base URL")
        self.bootstrap = [normalize_endpoint(url) for url in endpoints]
        self.namespace = _keys.validate_part("namespace", namespace)
        self.source = MetadataSource.parse(metadata_endpoint)
        self.topology = TopologyState(self.bootstrap, topology_ttl)
        self.retry = retry
        self.batch_routes = batch_fallback.BatchRoutes()
        self.batch_limits = batch_plan.BatchLimits()

    def url(self, call: Call, topology: Topology | None) -> str:
        """Resolves where a call goes under the given topology."""
        if call.endpoint is not None:
            base = call.endpoint
        elif topology is None:
            raise ValueError(f"{call.method} {call.path} needs a topology to route")
        elif call.shard_id is not None:
            base = topology.shard(call.shard_id).endpoint
        else:
            assert call.route_key is not None
            base = topology.owner(call.route_key).endpoint
        return urljoin(base + "/", call.path.lstrip("/"))

    def fetch_topology(self) -> Operation[Topology | None]:
        """Reads the topology from the configured source."""
        return fetch_topology(self.source, self.bootstrap)

    def key(self, model: str, collection: str, uuid: str) -> str:
        """Returns the wire key of an entity in this session's namespace."""
        return _keys.wire_key(model, self.namespace, collection, uuid)

    def health(self, endpoint: str | None) -> Operation[dict[str, Any]]:
        """``GET /health`` on ``endpoint`` or the first bootstrap endpoint."""
        return protocol.health(normalize_endpoint(endpoint or self.bootstrap[0]))

    def batch_get(
        self, model: str, collection: str, uuids: Iterable[str]
    ) -> Operation[BatchGetResult]:
        """Reads many entities of one collection."""
        keys = batch_plan.BatchKeys.of(model, self.namespace, collection, uuids)
        return batch.batch_get(keys, self.batch_routes, self.batch_limits)

    def batch_put(
        self, model: str, collection: str, docs: Mapping[str, Mapping[str, Any]]
    ) -> Operation[BatchWriteResult]:
        """Writes many entities of one collection."""
        keys = batch_plan.BatchKeys.of(model, self.namespace, collection, docs)
        protocol.check_documents(docs.values())
        return batch.batch_put(keys, docs, self.batch_routes, self.batch_limits)

    def batch_delete(
        self, model: str, collection: str, uuids: Iterable[str]
    ) -> Operation[BatchWriteResult]:
        """Deletes many entities of one collection."""
        keys = batch_plan.BatchKeys.of(model, self.namespace, collection, uuids)
        return batch.batch_delete(keys, self.batch_routes, self.batch_limits)

    def query(
        self,
        aql: str,
        params: Mapping[str, Any] | None,
        use_cursor: bool,
        cursor: str | None,
        batch_size: int | None,
        scope: protocol.Scope | None = None,
        allow_partial: bool = False,
    ) -> Operation[QueryResult]:
        """Runs an AQL query; see :func:`themis._core.query.query`."""
        if not isinstance(aql, str) or not aql.strip():
            raise ValueError(f"aql must be a non-empty query string, got {aql!r}")
        use_cursor = use_cursor or cursor is not None

        def make_call(shard_id: str | None, token: str | None) -> Call:
            body = query.query_body(
                aql,
                self.namespace,
                params,
                use_cursor,
                token,
                batch_size,
                allow_partial,
            )
            if scope is not None and scope.endpoint is not None:
                return Call(
                    "POST",
                    "/query/aql",
                    body=body,
                    endpoint=scope.endpoint,
                    headers=scope.headers,
                )
            return Call("POST", "/query/aql", body=body, shard_id=shard_id)

        if scope is not None:
            return _single(make_call(None, cursor))
        return query.query(aql, make_call, cursor, use_cursor)

    def traverse(
        self,
        start: str,
        max_depth: int,
        edge_type: str | None,
        direction: str,
        min_depth: int,
        *,
        by_neighbors: bool = False,
    ) -> Operation[list[str]]:
        """Traverses the graph breadth-first; see :func:`traversal.traverse`."""
        _check_direction(direction)
        if not 0 <= min_depth <= max_depth:
            raise ValueError(
                f"expected 0 <= min_depth <= max_depth, got {min_depth} and {max_depth}"
            )
        edges = traversal.EdgeQuery(direction, edge_type)
        return traversal.traverse(
            start, min_depth, max_depth, edges, by_neighbors=by_neighbors
        )

    def shortest_path(
        self,
        start: str,
        target: str,
        direction: str,
        edge_type: str | None,
        weight_attribute: str | None,
        *,
        by_neighbors: bool = False,
    ) -> Operation[dict[str, Any]]:
        """Finds the shortest path; see :func:`traversal.shortest_path`."""
        _check_direction(direction)
        edges = traversal.EdgeQuery(direction, edge_type)
        return traversal.shortest_path(
            start,
            target,
            edges,
            weight_attribute,
            self.documents,
            by_neighbors=by_neighbors,
        )

    def documents(self, ids: Sequence[str]) -> Operation[dict[str, Any]]:
        """Reads documents by ``_id`` from their owners; omits the missing ones.

        Raises:
            ThemisError: A read failed.
        """
        tables: dict[str, list[str]] = {}
        for doc_id in ids:
            table, _, pk = doc_id.partition(":")
            tables.setdefault(table, []).append(pk)
        found: dict[str, Any] = {}
        for table, pks in tables.items():
            keys = batch_plan.BatchKeys(table, tuple(dict.fromkeys(pks)))
            result = yield from batch.batch_get(
                keys, self.batch_routes, self.batch_limits
            )
            if result.errors:
                pk, reason = next(iter(result.errors.items()))
                raise ThemisError(
                    f"expected to read document {keys.wire(pk)!r}, got {reason}"
                )
            found.update((keys.wire(pk), doc) for pk, doc in result.found.items())
        return found

    def vector_search(
        self,
        embedding: Sequence[float],
        top_k: int,
        metadata_filter: Mapping[str, Any] | None,
        collection: str | None,
        use_cursor: bool,
        cursor: str | None,
        batch_size: int | None = None,
    ) -> Operation[QueryResult]:
        """Searches the nearest vectors on every shard."""
        if top_k <= 0:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        if batch_size is not None and batch_size <= 0:
            raise ValueError(
                f"batch_size must be a positive integer, got {batch_size!r}"
            )
        use_cursor = use_cursor or cursor is not None
        body: dict[str, Any] = {"vector": [float(x) for x in embedding], "k": top_k}
        if metadata_filter is not None:
            body["filter"] = dict(metadata_filter)
        if collection is not None:
            body["collection"] = collection
        body["namespace"] = self.namespace
        return vectors.vector_search(body, top_k, use_cursor, cursor, batch_size)

    def vector_insert(
        self,
        items: Iterable[Mapping[str, Any]],
        collection: str | None,
        vector_field: str,
    ) -> Operation[dict[str, Any]]:
        """Inserts vectors on the shards owning their documents."""
        return vectors.vector_insert(items, self.namespace, collection, vector_field)

    def add_edge(
        self,
        from_id: str,
        to_id: str,
        edge_type: str | None,
        weight: float | None,
        collection: str,
        attributes: Mapping[str, Any] | None,
    ) -> Operation[str]:
        """Creates an edge on the shard owning the edge document's own key.

        The SDK picks the ``_key`` (uuid4 hex) unless ``attributes`` holds one, since
        the shard that stores an edge is chosen by its key.
        """
        body: dict[str, Any] = dict(attributes or {})
        pk = str(body.get("_key") or uuid.uuid4().hex)
        key = self.key("graph", collection, pk)
        body.update(
            {
                "_from": from_id,
                "_to": to_id,
                "_key": pk,
                "collection": collection,
                "namespace": self.namespace,
            }
        )
        if edge_type is not None:
            body["_type"] = edge_type
        if weight is not None:
            body["_weight"] = weight
        return protocol.add_edge(body, key)

    def begin(self, isolation: str) -> Operation[protocol.Scope]:
        """Begins a transaction on the coordinator (the shard with the lowest id).

        Returns:
            The scope every call of the transaction uses.
        """
        topology: Topology = yield LOAD_TOPOLOGY
        coordinator = min(topology.shards, key=lambda shard: shard.id)
        tx_id = yield from protocol.begin_transaction(coordinator.endpoint, isolation)
        headers = {protocol.TRANSACTION_HEADER: str(tx_id)}
        return protocol.Scope(coordinator.endpoint, headers, tx_id)


def _single(call: Call) -> Operation[QueryResult]:
    reply: Reply = yield call
    return query.page_from_payload(reply.object())


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
