"""Transactions pinned to one node: the SDK side of ``/transaction/*``.

On a cluster that node reaches the other shards itself and commits writes on several
shards in two phases, so a transaction reads and writes any key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from themis._core import protocol
from themis._core.effects import Operation
from themis._core.pinned import TRANSACTION_SHARD, pinned
from themis.errors import ThemisError
from themis.results import BatchGetResult, BatchWriteResult, QueryResult

if TYPE_CHECKING:
    from themis._core.session import Session
    from themis.client import ThemisClient

__all__ = ["Transaction", "TransactionBase"]

T = TypeVar("T")


class TransactionBase:
    """State and key handling shared by the sync and async transactions."""

    def __init__(self, session: Session, scope: protocol.Scope) -> None:
        assert scope.transaction_id is not None and scope.endpoint is not None
        self._session = session
        self._scope = scope
        self.id: int = scope.transaction_id
        self.state = protocol.TransactionState.ACTIVE

    def _key(self, model: str, collection: str, uuid: str) -> str:
        self._check_active()
        return self._session.key(model, collection, uuid)

    def _pinned(self, op: Operation[T]) -> Operation[T]:
        """``op`` with every request sent to this transaction's node, inside it."""
        self._check_active()
        return pinned(op, self._scope)

    def _traverse(
        self,
        start: str,
        max_depth: int,
        edge_type: str | None,
        direction: str,
        min_depth: int,
    ) -> Operation[list[str]]:
        op = self._session.traverse(
            start, max_depth, edge_type, direction, min_depth, by_neighbors=True
        )
        return self._pinned(op)

    def _shortest_path(
        self,
        start: str,
        target: str,
        direction: str,
        edge_type: str | None,
        weight_attribute: str | None,
    ) -> Operation[dict[str, Any]]:
        op = self._session.shortest_path(
            start, target, direction, edge_type, weight_attribute, by_neighbors=True
        )
        return self._pinned(op)

    def _delete_edge(self, edge_id: str) -> Operation[bool]:
        return self._pinned(protocol.delete_edge(edge_id, [TRANSACTION_SHARD]))

    def _vector_search(
        self,
        embedding: Sequence[float],
        top_k: int,
        metadata_filter: Mapping[str, Any] | None,
        collection: str | None,
        use_cursor: bool,
        cursor: str | None,
        batch_size: int | None,
    ) -> Operation[list[dict[str, Any]] | QueryResult]:
        op = self._session.vector_search(
            embedding,
            top_k,
            metadata_filter,
            collection,
            use_cursor,
            cursor,
            batch_size,
        )
        result = yield from self._pinned(op)
        if use_cursor or cursor is not None:
            return result
        return cast(list[dict[str, Any]], result.items)

    def _check_active(self) -> None:
        if self.state is not protocol.TransactionState.ACTIVE:
            raise ThemisError(
                f"transaction {self.id} is {self.state.value}; begin a new one"
            )

    def _finish(self, state: protocol.TransactionState) -> str:
        """Marks the end first (a failed commit must not be retried by an exit)."""
        self._check_active()
        assert self._scope.endpoint is not None
        self.state = state
        return self._scope.endpoint


class Transaction(TransactionBase):
    """A transaction pinned to one node; its calls carry ``X-Transaction-Id``.

    Used as a context manager it commits when the block succeeds and rolls back when
    it raises. Commit and rollback are never retried.
    """

    def __init__(self, client: ThemisClient, scope: protocol.Scope) -> None:
        super().__init__(client._session, scope)
        self._client = client

    def __enter__(self) -> Transaction:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.state is not protocol.TransactionState.ACTIVE:
            return
        if exc_type is None:
            self.commit()
        else:
            self.rollback()

    def get(self, model: str, collection: str, uuid: str) -> Any:
        """Reads an entity as this transaction sees it."""
        key = self._key(model, collection, uuid)
        return self._client._run(protocol.get_entity(key, self._scope))

    def put(
        self, model: str, collection: str, uuid: str, doc: Mapping[str, Any]
    ) -> bool:
        """Writes an entity within this transaction."""
        key = self._key(model, collection, uuid)
        return self._client._run(protocol.put_entity(key, doc, self._scope))

    def delete(self, model: str, collection: str, uuid: str) -> bool:
        """Deletes an entity within this transaction."""
        key = self._key(model, collection, uuid)
        return self._client._run(protocol.delete_entity(key, self._scope))

    def query(
        self, aql: str, *, params: Mapping[str, Any] | None = None
    ) -> QueryResult:
        """Runs a query on the transaction's node, seeing its own writes."""
        self._check_active()
        op = self._session.query(aql, params, False, None, None, scope=self._scope)
        return self._client._run(op)

    def batch_get(
        self, model: str, collection: str, uuids: Iterable[str]
    ) -> BatchGetResult:
        """Reads many entities as this transaction sees them, on every shard."""
        op = self._session.batch_get(model, collection, uuids)
        return self._client._run(self._pinned(op))

    def batch_put(
        self, model: str, collection: str, docs: Mapping[str, Mapping[str, Any]]
    ) -> BatchWriteResult:
        """Writes many entities within this transaction."""
        op = self._session.batch_put(model, collection, docs)
        return self._client._run(self._pinned(op))

    def batch_delete(
        self, model: str, collection: str, uuids: Iterable[str]
    ) -> BatchWriteResult:
        """Deletes many entities within this transaction."""
        op = self._session.batch_delete(model, collection, uuids)
        return self._client._run(self._pinned(op))

    def graph_traverse(
        self,
        start: str,
        max_depth: int = 3,
        edge_type: str | None = None,
        *,
        direction: str = "outbound",
        min_depth: int = 0,
    ) -> list[str]:
        """Traverses the graph as this transaction sees it (see the client's)."""
        op = self._traverse(start, max_depth, edge_type, direction, min_depth)
        return self._client._run(op)

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
        """Creates an edge within this transaction and returns its id."""
        op = self._session.add_edge(
            from_id, to_id, edge_type, weight, collection, attributes
        )
        return self._client._run(self._pinned(op))

    def delete_edge(self, edge_id: str) -> bool:
        """Deletes an edge within this transaction; ``False`` when there is none."""
        return self._client._run(self._delete_edge(edge_id))

    def shortest_path(
        self,
        start: str,
        target: str,
        *,
        direction: str = "outbound",
        edge_type: str | None = None,
        weight_attribute: str | None = None,
    ) -> dict[str, Any]:
        """The shortest path as this transaction sees the graph (see the client's)."""
        op = self._shortest_path(start, target, direction, edge_type, weight_attribute)
        return self._client._run(op)

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
        """The nearest vectors as this transaction sees them (see the client's)."""
        op = self._vector_search(
            embedding,
            top_k,
            metadata_filter,
            collection,
            use_cursor,
            cursor,
            batch_size,
        )
        return self._client._run(op)

    def vector_insert(
        self,
        items: Iterable[Mapping[str, Any]],
        *,
        collection: str | None = None,
        vector_field: str = "embedding",
    ) -> dict[str, Any]:
        """Inserts vectors within this transaction (see the client's)."""
        op = self._session.vector_insert(items, collection, vector_field)
        return self._client._run(self._pinned(op))

    def commit(self) -> dict[str, Any]:
        """Commits the transaction."""
        return self._end("commit", protocol.TransactionState.COMMITTED)

    def rollback(self) -> dict[str, Any]:
        """Rolls the transaction back."""
        return self._end("rollback", protocol.TransactionState.ROLLED_BACK)

    def _end(self, action: str, state: protocol.TransactionState) -> dict[str, Any]:
        endpoint = self._finish(state)
        return self._client._run(protocol.end_transaction(endpoint, self.id, action))
