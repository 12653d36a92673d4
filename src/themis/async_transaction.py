"""The asyncio twin of :mod:`themis.transaction`: the same calls, awaited."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from themis._core import protocol
from themis.results import BatchGetResult, BatchWriteResult, QueryResult
from themis.transaction import TransactionBase

if TYPE_CHECKING:
    from themis.async_client import AsyncThemisClient

__all__ = ["AsyncTransaction"]


class AsyncTransaction(TransactionBase):
    """The asyncio twin of `themis.Transaction`."""

    def __init__(self, client: AsyncThemisClient, scope: protocol.Scope) -> None:
        super().__init__(client._session, scope)
        self._client = client

    async def __aenter__(self) -> AsyncTransaction:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.state is not protocol.TransactionState.ACTIVE:
            return
        if exc_type is None:
            await self.commit()
        else:
            await self.rollback()

    async def get(self, model: str, collection: str, uuid: str) -> Any:
        """Reads an entity as this transaction sees it."""
        key = self._key(model, collection, uuid)
        return await self._client._run(protocol.get_entity(key, self._scope))

    async def put(
        self, model: str, collection: str, uuid: str, doc: Mapping[str, Any]
    ) -> bool:
        """Writes an entity within this transaction."""
        key = self._key(model, collection, uuid)
        return await self._client._run(protocol.put_entity(key, doc, self._scope))

    async def delete(self, model: str, collection: str, uuid: str) -> bool:
        """Deletes an entity within this transaction."""
        key = self._key(model, collection, uuid)
        return await self._client._run(protocol.delete_entity(key, self._scope))

    async def query(
        self, aql: str, *, params: Mapping[str, Any] | None = None
    ) -> QueryResult:
        """Runs a query that sees this transaction's own writes."""
        self._check_active()
        op = self._session.query(aql, params, False, None, None, scope=self._scope)
        return await self._client._run(op)

    async def batch_get(
        self, model: str, collection: str, uuids: Iterable[str]
    ) -> BatchGetResult:
        """Reads many entities as this transaction sees them, on every shard."""
        op = self._session.batch_get(model, collection, uuids)
        return await self._client._run(self._pinned(op))

    async def batch_put(
        self, model: str, collection: str, docs: Mapping[str, Mapping[str, Any]]
    ) -> BatchWriteResult:
        """Writes many entities within this transaction."""
        op = self._session.batch_put(model, collection, docs)
        return await self._client._run(self._pinned(op))

    async def batch_delete(
        self, model: str, collection: str, uuids: Iterable[str]
    ) -> BatchWriteResult:
        """Deletes many entities within this transaction."""
        op = self._session.batch_delete(model, collection, uuids)
        return await self._client._run(self._pinned(op))

    async def graph_traverse(
        self,
        start: str,
        max_depth: int = 3,
        edge_type: str | None = None,
        *,
        direction: str = "outbound",
        min_depth: int = 0,
    ) -> list[str]:
        """Traverses the graph as this transaction sees it."""
        op = self._traverse(start, max_depth, edge_type, direction, min_depth)
        return await self._client._run(op)

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
        """Creates an edge within this transaction and returns its id."""
        op = self._session.add_edge(
            from_id, to_id, edge_type, weight, collection, attributes
        )
        return await self._client._run(self._pinned(op))

    async def delete_edge(self, edge_id: str) -> bool:
        """Deletes an edge within this transaction; ``False`` when there is none."""
        return await self._client._run(self._delete_edge(edge_id))

    async def shortest_path(
        self,
        start: str,
        target: str,
        *,
        direction: str = "outbound",
        edge_type: str | None = None,
        weight_attribute: str | None = None,
    ) -> dict[str, Any]:
        """The shortest path as this transaction sees the graph."""
        op = self._shortest_path(start, target, direction, edge_type, weight_attribute)
        return await self._client._run(op)

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
        """The nearest vectors as this transaction sees them."""
        op = self._vector_search(
            embedding,
            top_k,
            metadata_filter,
            collection,
            use_cursor,
            cursor,
            batch_size,
        )
        return await self._client._run(op)

    async def vector_insert(
        self,
        items: Iterable[Mapping[str, Any]],
        *,
        collection: str | None = None,
        vector_field: str = "embedding",
    ) -> dict[str, Any]:
        """Inserts vectors within this transaction."""
        op = self._session.vector_insert(items, collection, vector_field)
        return await self._client._run(self._pinned(op))

    async def commit(self) -> dict[str, Any]:
        """Commits the transaction."""
        return await self._end("commit", protocol.TransactionState.COMMITTED)

    async def rollback(self) -> dict[str, Any]:
        """Rolls the transaction back."""
        return await self._end("rollback", protocol.TransactionState.ROLLED_BACK)

    async def _end(
        self, action: str, state: protocol.TransactionState
    ) -> dict[str, Any]:
        endpoint = self._finish(state)
        op = protocol.end_transaction(endpoint, self.id, action)
        return await self._client._run(op)
