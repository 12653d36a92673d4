"""The asynchronous client: an httpx.AsyncClient driver around the same sans-IO core.

Every operation is built by the core exactly as for `ThemisClient`; only the driver
differs: requests are awaited, parallel work runs as tasks, retries sleep with
``asyncio.sleep`` and one coroutine at a time reads the topology.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
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
from themis.async_transaction import AsyncTransaction
from themis.client import DEFAULT_METADATA_ENDPOINT
from themis.results import BatchGetResult, BatchWriteResult, QueryResult

__all__ = ["AsyncThemisClient", "AsyncTransaction"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class AsyncThemisClient:
    """The asyncio twin of `ThemisClient`: the same arguments, methods and results.

    Args:
        endpoints: Bootstrap base URLs, e.g. ``["http://127.0.0.1:8765"]``.
        namespace: The namespace of every key and query.
        metadata_endpoint: A path served by the nodes, or an etcd/Consul/JSON URL.
        timeout: The HTTP timeout in seconds.
        max_retries: Retries of idempotent requests on 429, 5xx and connection errors.
        max_workers: Most batch requests in flight (default: ``min(4, tasks)``).
        transport: An httpx async transport (e.g. ``httpx.MockTransport``).
        headers: Headers sent with every request.
        token: A bearer token sent to the nodes.
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
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        token: str | None = None,
        topology_ttl: float = 30.0,
        _retry: RetryPolicy | None = None,
        _sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        _clock: Callable[[], float] = time.monotonic,
    ) -> None:
        urls = [endpoints] if isinstance(endpoints, str) else list(endpoints)
        retry = _retry or RetryPolicy(max_retries=max_retries)
        self._session = Session(urls, namespace, metadata_endpoint, topology_ttl, retry)
        self._http = httpx.AsyncClient(
            transport=transport, timeout=timeout, headers=headers
        )
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        self._max_workers = max_workers
        self._sleep = _sleep
        self._clock = _clock
        self._topology_lock = asyncio.Lock()

    @property
    def namespace(self) -> str:
        """The namespace of every key and query."""
        return self._session.namespace

    async def __aenter__(self) -> AsyncThemisClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the HTTP connections."""
        await self._http.aclose()

    async def topology(self) -> Topology:
        """Returns the topology in use, loading it if needed."""
        return await self._topology()

    async def health(self, endpoint: str | None = None) -> dict[str, Any]:
        """Returns ``GET /health`` of ``endpoint`` (default: the first bootstrap)."""
        return await self._run(self._session.health(endpoint))

    async def put(
        self, model: str, collection: str, uuid: str, doc: Mapping[str, Any]
    ) -> bool:
        """Writes (upserts) one entity."""
        key = self._session.key(model, collection, uuid)
        return await self._run(protocol.put_entity(key, doc))

    async def get(self, model: str, collection: str, uuid: str) -> Any:
        """Reads one entity; returns ``None`` when it does not exist."""
        key = self._session.key(model, collection, uuid)
        return await self._run(protocol.get_entity(key))

    async def delete(self, model: str, collection: str, uuid: str) -> bool:
        """Deletes one entity; returns ``False`` when it did not exist."""
        key = self._session.key(model, collection, uuid)
        return await self._run(protocol.delete_entity(key))

    async def batch_get(
        self, model: str, collection: str, uuids: Iterable[str]
    ) -> BatchGetResult:
        """Reads many entities, one request per shard chunk, shards concurrently."""
        return await self._run(self._session.batch_get(model, collection, uuids))

    async def batch_put(
        self, model: str, collection: str, docs: Mapping[str, Mapping[str, Any]]
    ) -> BatchWriteResult:
        """Writes many entities, given as ``{uuid: document}``."""
        return await self._run(self._session.batch_put(model, collection, docs))

    async def batch_delete(
        self, model: str, collection: str, uuids: Iterable[str]
    ) -> BatchWriteResult:
        """Deletes many entities; uuids that did not exist are listed in ``missing``."""
        return await self._run(self._session.batch_delete(model, collection, uuids))

    async def query(
        self,
        aql: str,
        *,
        params: Mapping[str, Any] | None = None,
        use_cursor: bool = False,
        cursor: str | None = None,
        batch_size: int | None = None,
        allow_partial: bool = False,
    ) -> QueryResult:
        """Runs an AQL query; see `ThemisClient.query`."""
        op = self._session.query(
            aql, params, use_cursor, cursor, batch_size, allow_partial=allow_partial
        )
        return await self._run(op)

    async def query_iter(
        self,
        aql: str,
        *,
        params: Mapping[str, Any] | None = None,
        batch_size: int | None = None,
    ) -> AsyncIterator[Any]:
        """Yields every row of a query, fetching pages as needed."""
        page = await self.query(
            aql, params=params, use_cursor=True, batch_size=batch_size
        )
        for row in page.items:
            yield row
        while page.has_more and page.next_cursor is not None:
            page = await self.query(
                aql, params=params, cursor=page.next_cursor, batch_size=batch_size
            )
            for row in page.items:
                yield row

    async def graph_traverse(
        self,
        start: str,
        max_depth: int = 3,
        edge_type: str | None = None,
        *,
        direction: str = "outbound",
        min_depth: int = 0,
    ) -> list[str]:
        """Returns the ``_id`` of every vertex reached from ``start``, breadth-first."""
        op = self._session.traverse(start, max_depth, edge_type, direction, min_depth)
        return await self._run(op)

    async def add_edge(
        self,
        from_id: str,
        to_id: str,
        *,
        edge_type: str | None = None,
        weight: float | None = None,
        collection: str = "edges",
        attributes: Mapping[str, Any] | None = None,
    ) -> str:
        """Creates an edge between two vertex ``_id`` values and returns its id."""
        op = self._session.add_edge(
            from_id, to_id, edge_type, weight, collection, attributes
        )
        return await self._run(op)

    async def delete_edge(self, edge_id: str) -> bool:
        """Deletes an edge; returns ``False`` when no shard had it."""
        shard_ids = (await self._topology()).shard_ids
        return await self._run(protocol.delete_edge(edge_id, shard_ids))

    async def shortest_path(
        self,
        start: str,
        target: str,
        *,
        direction: str = "outbound",
        edge_type: str | None = None,
        weight_attribute: str | None = None,
    ) -> dict[str, Any]:
        """Returns ``{"vertices", "edges", "distance"}`` of the shortest path."""
        op = self._session.shortest_path(
            start, target, direction, edge_type, weight_attribute
        )
        return await self._run(op)

    async def vector_search(
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
        """Finds the nearest vectors on every shard, smallest distance first."""
        op = self._session.vector_search(
            embedding,
            top_k,
            metadata_filter,
            collection,
            use_cursor,
            cursor,
            batch_size,
        )
        result = await self._run(op)
        if use_cursor or cursor is not None:
            return result
        return cast(list[dict[str, Any]], result.items)

    async def vector_insert(
        self,
        items: Iterable[Mapping[str, Any]],
        *,
        collection: str | None = None,
        vector_field: str = "embedding",
    ) -> dict[str, Any]:
        """Inserts ``{"pk", "vector", "fields"?}`` items on the shards owning them."""
        op = self._session.vector_insert(items, collection, vector_field)
        return await self._run(op)

    async def begin_transaction(self, isolation: str = "snapshot") -> AsyncTransaction:
        """Begins a transaction; use it with ``async with`` to commit or roll back."""
        scope = await self._run(self._session.begin(isolation))
        return AsyncTransaction(self, scope)

    async def _run(self, op: Operation[T]) -> T:
        value: Any = None
        error: Exception | None = None
        while True:
            try:
                effect = op.throw(error) if error is not None else op.send(value)
            except StopIteration as stop:
                return cast(T, stop.value)
            value, error = None, None
            try:
                value = await self._perform(effect)
            except FAILURES as exc:
                error = exc

    async def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Call):
            return await self._send(effect)
        if isinstance(effect, Parallel):
            return await self._parallel(effect.ops)
        return await self._topology()

    async def _parallel(self, ops: list[Operation[Any]]) -> list[Outcome]:
        limit = asyncio.Semaphore(self._max_workers or min(4, max(1, len(ops))))

        async def bounded(op: Operation[Any]) -> Outcome:
            async with limit:
                return await self._outcome(op)

        return list(await asyncio.gather(*(bounded(op) for op in ops)))

    async def _outcome(self, op: Operation[Any]) -> Outcome:
        try:
            return Outcome(value=await self._run(op))
        except FAILURES as exc:
            return Outcome(error=exc)

    async def _send(self, call: Call) -> Reply:
        policy = self._session.retry
        attempt = 0
        while True:
            routed = call.endpoint is None
            topology = await self._topology() if routed else None
            generation = self._session.topology.generation
            request = build_request(
                self._http, self._session, call, topology, self._auth
            )
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                logger.debug("%s %s failed: %s", request.method, request.url, exc)
                if routed:
                    await self._topology(stale=generation)
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
            await self._sleep(delay)

    async def _topology(self, stale: int | None = None) -> Topology:
        state = self._session.topology
        current = state.current
        if current is not None and stale is None and not state.due(self._clock()):
            return current
        async with self._topology_lock:
            if stale is not None and stale == state.generation:
                state.expire()
            if state.current is not None and not state.due(self._clock()):
                return state.current
            loaded = await self._run(self._session.fetch_topology())
            now = self._clock()
            return state.install(loaded, now) if loaded else state.fall_back(now)
