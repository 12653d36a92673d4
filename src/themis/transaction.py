"""Transactions pinned to one node: the SDK side of ``/transaction/*``.

On a cluster that node reaches the other shards itself and commits writes on several
shards in two phases, so a transaction reads and writes any key.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from themis._core import protocol
from themis.errors import ThemisError
from themis.results import QueryResult

if TYPE_CHECKING:
    from themis._core.session import Session
    from themis.client import ThemisClient

__all__ = ["Transaction", "TransactionBase"]


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

    def commit(self) -> dict[str, Any]:
        """Commits the transaction."""
        return self._end("commit", protocol.TransactionState.COMMITTED)

    def rollback(self) -> dict[str, Any]:
        """Rolls the transaction back."""
        return self._end("rollback", protocol.TransactionState.ROLLED_BACK)

    def _end(self, action: str, state: protocol.TransactionState) -> dict[str, Any]:
        endpoint = self._finish(state)
        return self._client._run(protocol.end_transaction(endpoint, self.id, action))
