"""The synchronous client: a thin httpx driver around the sans-IO core."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, cast

import httpx

from themis._core import protocol
from themis._core.effects import (
    FAILURES,
    Call,
    Effect,
    Operation,
    Outcome,
    Parallel,
    Reply,
)
from themis._core.retry import RetryPolicy
from themis._core.session import Session
from themis._core.topology import Topology
from themis._driver import build_request, heed_topology, to_reply
from themis._workers import Workers
from themis.results import BatchGetResult, BatchWriteResult, QueryResult
from themis.transaction import Transaction

__all__ = ["ThemisClient", "Transaction"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_METADATA_ENDPOINT = "/_admin/cluster/topology"


class ThemisClient:
    """A client for a ThemisDB cluster.

    Keys are routed to the shard that owns them; the topology is read lazily from
    ``metadata_endpoint`` and refreshed after ``topology_ttl`` seconds or when a shard
    stops answering.

    Args:
        endpoints: Bootstrap base URLs, e.g. ``["http://127.0.0.1:8765"]``.
        namespace: The namespace of every key and query.
        metadata_endpoint: A path served by the nodes, or a full URL of a plain JSON
            document, an etcd v3/v2 key (``etcd://host:port/key``) or a Consul key.
        timeout: The HTTP timeout in seconds.
        max_retries: Retries of idempotent requests on 429, 5xx and connection errors.
        max_workers: Most batch requests in flight (default: ``min(4, tasks)``).
        transport: An httpx transport; with :class:`httpx.MockTransport` batches run
            sequentially.
        headers: Headers sent with every request.
        token: A bearer token sent to the nodes (not to etcd or Consul).
        topology_ttl: Seconds after which the topology is read again.
    """

    def __init__(
        self,
        endpoints: Sequence[str] | str,
        namespace: str = "default",
        metadata_endpoint: str = DEFAULT_METADATA_ENDPOINT,
        timeout: float = 30.0,
        max_retries: int = 3,
        max_workers: int | None = None,
        transport: httpx.BaseTransport | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        token: str | None = None,
        topology_ttl: float = 30.0,
        _retry: RetryPolicy | None = None,
        _sleep: Callable[[float], None] = time.sleep,
        _clock: Callable[[], float] = time.monotonic,
    ) -> None:
        urls = [endpoints] if isinstance(endpoints, str) else list(endpoints)
        retry = _retry or RetryPolicy(max_retries=max_retries)
        self._session = Session(urls, namespace, metadata_endpoint, topology_ttl, retry)
        self._http = httpx.Client(transport=transport, timeout=timeout, headers=headers)
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        self._max_workers = max_workers
        self._workers = Workers()
        # A client dropped without close() must not leave its threads behind.
        weakref.finalize(self, self._workers.close, wait=False)
        self._sequential = isinstance(transport, httpx.MockTransport)
        self._sleep = _sleep
        self._clock = _clock
        self._topology_lock = threading.Lock()

    @property
    def namespace(self) -> str:
        """The namespace of every key and query."""
        return self._session.namespace

    def __enter__(self) -> ThemisClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stops the worker threads and closes the HTTP connections."""
        self._workers.close()
        self._http.close()

    def topology(self) -> Topology:
        """Returns the topology in use, loading it if needed."""
        return self._topology()

    def health(self, endpoint: str | None = None) -> dict[str, Any]:
        """Returns ``GET /health`` of ``endpoint`` (default: the first bootstrap)."""
        return self._run(self._session.health(endpoint))

    def put(
        self, model: str, collection: str, uuid: str, doc: Mapping[str, Any]
    ) -> bool:
        """Writes (upserts) one entity.

        Raises:
            ValueError: A key part is empty or contains a reserved character.
            ThemisHTTPError: The node rejected the write.
        """
        key = self._session.key(model, collection, uuid)
        return self._run(protocol.put_entity(key, doc))

    def get(self, model: str, collection: str, uuid: str) -> Any:
        """Reads one entity; returns ``None`` when it does not exist."""
        return self._run(
            protocol.get_entity(self._session.key(model, collection, uuid))
        )

    def delete(self, model: str, collection: str, uuid: str) -> bool:
        """Deletes one entity; returns ``False`` when it did not exist."""
        key = self._session.key(model, collection, uuid)
        return self._run(protocol.delete_entity(key))

    def batch_get(
        self, model: str, collection: str, uuids: Iterable[str]
    ) -> BatchGetResult:
        """Reads many entities, one request per shard chunk, shards in parallel."""
        return self._run(self._session.batch_get(model, collection, uuids))

    def batch_put(
        self, model: str, collection: str, docs: Mapping[str, Mapping[str, Any]]
    ) -> BatchWriteResult:
        """Writes many entities, given as ``{uuid: document}``."""
        return self._run(self._session.batch_put(model, collection, docs))

    def batch_delete(
        self, model: str, collection: str, uuids: Iterable[str]
    ) -> BatchWriteResult:
        """Deletes many entities; uuids that did not exist are listed in ``missing``."""
        return self._run(self._session.batch_delete(model, collection, uuids))

    def query(
        self,
        aql: str,
        *,
        params: Mapping[str, Any] | None = None,
        use_cursor: bool = False,
        cursor: str | None = None,
        batch_size: int | None = None,
        allow_partial: bool = False,
    ) -> QueryResult:
        """Runs an AQL query.

        A query naming a ``urn:themis:`` resource runs on the shard that owns it; any
        other is coordinated by one node over every shard. With ``use_cursor`` the
        result is one page; pass its ``next_cursor`` back while ``has_more`` is true.
        With ``allow_partial`` a shard that does not answer is left out instead of
        failing the query, and a whole (non-cursor) result names it in
        ``missing_shards``.

        Raises:
            QueryError: The query was rejected.
            ValueError: ``cursor`` did not come from this query.
        """
        op = self._session.query(
            aql, params, use_cursor, cursor, batch_size, allow_partial=allow_partial
        )
        return self._run(op)

    def query_iter(
        self,
        aql: str,
        *,
        params: Mapping[str, Any] | None = None,
        batch_size: int | None = None,
    ) -> Iterator[Any]:
        """Yields every row of a query, fetching pages as needed."""
        page = self.query(aql, params=params, use_cursor=True, batch_size=batch_size)
        yield from page.items
        while page.has_more and page.next_cursor is not None:
            page = self.query(
                aql, params=params, cursor=page.next_cursor, batch_size=batch_size
            )
            yield from page.items

    def graph_traverse(
        self,
        start: str,
        max_depth: int = 3,
        edge_type: str | None = None,
        *,
        direction: str = "outbound",
        min_depth: int = 0,
    ) -> list[str]:
        """Returns the ``_id`` of every vertex reached from ``start``, breadth-first.

        Each vertex appears once, at its shortest depth, in visit order (the start
        first when ``min_depth`` is 0). On several shards the SDK runs the search
        itself with ``/graph/neighbors``, with the result one node would give.
        """
        op = self._session.traverse(start, max_depth, edge_type, direction, min_depth)
        return self._run(op)

    def add_edge(
        self,
        from_id: str,
        to_id: str,
        *,
        edge_type: str | None = None,
        weight: float | None = None,
        collection: str = "edges",
        attributes: Mapping[str, Any] | None = None,
    ) -> str:
        """Creates an edge between two vertex ``_id`` values and returns its id.

        The edge is stored on the shard owning its key; the SDK generates the key
        (uuid4 hex) unless ``attributes`` has a ``_key``.
        """
        op = self._session.add_edge(
            from_id, to_id, edge_type, weight, collection, attributes
        )
        return self._run(op)

    def delete_edge(self, edge_id: str) -> bool:
        """Deletes an edge; returns ``False`` when no shard had it."""
        return self._run(protocol.delete_edge(edge_id, self._topology().shard_ids))

    def shortest_path(
        self,
        start: str,
        target: str,
        *,
        direction: str = "outbound",
        edge_type: str | None = None,
        weight_attribute: str | None = None,
    ) -> dict[str, Any]:
        """Returns ``{"vertices", "edges", "distance"}`` of the shortest path.

        Raises:
            NotFoundError: No path leads from ``start`` to ``target``.
            BadRequestError: An edge's ``weight_attribute`` is negative or not a number.
        """
        op = self._session.shortest_path(
            start, target, direction, edge_type, weight_attribute
        )
        return self._run(op)

    def vector_search(
        self,
        embedding: Sequence[float],
        top_k: int = 10,
        metadata_filter: Mapping[str, Any] | None = None,
        *,
        collection: str | None = None,
        use_cursor: bool = False,
        cursor: str | None = None,
        batch_size: int | None = None,
    ) -> list[dict[str, Any]] | QueryResult:
        """Finds the nearest vectors on every shard, smallest distance first.

        With ``use_cursor`` the result is one page of ``batch_size`` hits (default
        100); pass its ``next_cursor`` back while ``has_more`` is true. The pages
        concatenate to the unpaged ``top_k`` hits, in order, on any topology.

        Returns:
            The ``top_k`` hits ``{"pk", "distance", "score"}``, or with ``use_cursor``
            a :class:`QueryResult` page.

        Raises:
            ValueError: ``cursor`` did not come from this search.
        """
        op = self._session.vector_search(
            embedding,
            top_k,
            metadata_filter,
            collection,
            use_cursor,
            cursor,
            batch_size,
        )
        result = self._run(op)
        if use_cursor or cursor is not None:
            return result
        return cast(list[dict[str, Any]], result.items)

    def vector_insert(
        self,
        items: Iterable[Mapping[str, Any]],
        *,
        collection: str | None = None,
        vector_field: str = "embedding",
    ) -> dict[str, Any]:
        """Inserts ``{"pk", "vector", "fields"?}`` items on the shards owning them.

        Each item becomes the document ``vector.{namespace}.{collection}:{pk}``
        (collection ``vectors`` by default) on the shard that owns that key.
        """
        op = self._session.vector_insert(items, collection, vector_field)
        return self._run(op)

    def begin_transaction(self, isolation: str = "snapshot") -> Transaction:
        """Begins a transaction; use it as a context manager to commit or roll back."""
        scope = self._run(self._session.begin(isolation))
        return Transaction(self, scope)

    def _run(
        self, op: Operation[T], value: Any = None, error: Exception | None = None
    ) -> T:
        while True:
            try:
                effect = op.throw(error) if error is not None else op.send(value)
            except StopIteration as stop:
                return cast(T, stop.value)
            value, error = None, None
            try:
                value = self._perform(effect)
            except FAILURES as exc:
                error = exc

    def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Call):
            return self._send(effect)
        if isinstance(effect, Parallel):
            return self._parallel(effect.ops)
        return self._topology()

    def _parallel(self, ops: list[Operation[Any]]) -> list[Outcome]:
        if self._sequential or len(ops) <= 1:
            return [self._outcome(op) for op in ops]
        # Each operation runs to its first effect here, so that the workers start
        # with their requests ready instead of taking turns to prepare them.
        started = [self._start(op) for op in ops]
        limit = self._max_workers or min(4, len(ops))
        return self._workers.map(self._finish, started, limit)

    def _start(self, op: Operation[Any]) -> tuple[Operation[Any], Effect | Outcome]:
        try:
            return op, op.send(None)
        except StopIteration as stop:
            return op, Outcome(value=stop.value)
        except FAILURES as exc:
            return op, Outcome(error=exc)

    def _finish(self, started: tuple[Operation[Any], Effect | Outcome]) -> Outcome:
        op, first = started
        if isinstance(first, Outcome):
            return first
        try:
            return self._outcome(op, self._perform(first))
        except FAILURES as exc:
            return self._outcome(op, error=exc)

    def _outcome(
        self, op: Operation[Any], value: Any = None, error: Exception | None = None
    ) -> Outcome:
        try:
            return Outcome(value=self._run(op, value, error))
        except FAILURES as exc:
            return Outcome(error=exc)

    def _send(self, call: Call) -> Reply:
        policy = self._session.retry
        attempt = 0
        while True:
            routed = call.endpoint is None
            topology = self._topology() if routed else None
            generation = self._session.topology.generation
            request = self._request(call, topology)
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                logger.debug("%s %s failed: %s", request.method, request.url, exc)
                if routed:
                    self._topology(stale=generation)
                if not policy.may_retry(call, attempt):
                    raise
                delay = policy.backoff(attempt)
            else:
                heed_topology(self._session, response)
                status = response.status_code
                logger.debug("%s %s -> %s", request.method, request.url, status)
                if not (
                    policy.retry_status(status) and policy.may_retry(call, attempt)
                ):
                    return to_reply(call, response)
                delay = policy.delay(attempt, response.headers.get("Retry-After"))
            attempt += 1
            logger.debug(
                "retry %s of %s %s in %.3fs", attempt, call.method, call.path, delay
            )
            self._sleep(delay)

    def _request(self, call: Call, topology: Topology | None) -> httpx.Request:
        return build_request(self._http, self._session, call, topology, self._auth)

    def _topology(self, stale: int | None = None) -> Topology:
        """Returns the topology, reading it first if it is due.

        Only one thread reads at a time; the others wait and use its result.

        Args:
            stale: The generation a request failed to connect under; if no other
                thread refreshed since, it is read again now.
        """
        state = self._session.topology
        current = state.current
        if current is not None and stale is None and not state.due(self._clock()):
            return current
        with self._topology_lock:
            if stale is not None and stale == state.generation:
                state.expire()
            if state.current is not None and not state.due(self._clock()):
                return state.current
            loaded = self._run(self._session.fetch_topology())
            now = self._clock()
            return state.install(loaded, now) if loaded else state.fall_back(now)
