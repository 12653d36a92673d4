"""The open transactions of one node: begin, lookup, commit, two-phase commit.

The manager hands out ids, expires idle transactions and keeps the statistics of
``GET /transaction/stats``. For a commit over several shards it keeps both sides of
two-phase commit (`two_phase`): the parts prepared here, which survive restarts in the
``prepared`` space, and the decisions of the transactions this node coordinated, in the
``decisions`` space until every part has committed.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from themis import _json
from themis.server.errors import Conflict, NotFound
from themis.server.storage import Storage
from themis.server.storage_ops import Delete, Put, WriteHook
from themis.server.transactions import (
    Coordinator,
    Isolation,
    Status,
    Transaction,
    parse_ident,
    record_key,
)

IDLE_TIMEOUT_SECONDS = 60.0
MAX_OPEN = 256


class TransactionManager:
    """Open transactions of one node, with idle expiry and statistics."""

    def __init__(self, storage: Storage, *, idle_timeout: float = IDLE_TIMEOUT_SECONDS):
        self._storage = storage
        self._idle_timeout = idle_timeout
        self._open: dict[int, Transaction] = {}
        self._prepared: dict[int, Transaction] = {}
        self._deciding: set[int] = set()
        self._lock = threading.Lock()
        # Ids stay unique across restarts of the node: they start at the clock.
        self._ids = itertools.count(int(time.time() * 1000))
        self.stats: dict[str, Any] = {
            "total_begun": 0,
            "total_committed": 0,
            "total_aborted": 0,
            "total_conflicts": 0,
        }
        self._durations: list[float] = []
        #: Told about every transaction that ends, however it ends.
        self.on_finish: Callable[[Transaction], None] | None = None
        #: Write hooks whose derived data a transaction's reads show over its own
        #: writes (see `OverlayView`); installed with the graph.
        self.derived: list[WriteHook] = []
        self._restore_prepared()

    def begin(self, isolation: Isolation) -> Transaction:
        """Open a transaction.

        Raises:
            Conflict: too many transactions are open.
        """
        self._expire()
        with self._lock:
            if len(self._open) >= MAX_OPEN:
                raise Conflict(
                    f"{MAX_OPEN} transactions are open; commit or roll back some first"
                )
            txn = Transaction(
                next(self._ids),
                isolation,
                self._storage.snapshot(),
                derive=self.derived,
            )
            self._open[txn.ident] = txn
            self.stats["total_begun"] += 1
        return txn

    def lookup(self, raw: Any, *, prepared: bool = False) -> Transaction:
        """The open transaction named by a header or body value.

        Args:
            raw: The id as received.
            prepared: Whether a prepared transaction will do (to commit or roll
                back); data routes only use active ones.

        Raises:
            BadRequest: the id is not an integer.
            NotFound: no such open transaction.
            Conflict: it is prepared and ``prepared`` is false.
        """
        ident = parse_ident(raw)
        self._expire()
        with self._lock:
            txn = self._open.get(ident)
            held = self._prepared.get(ident)
        if held is not None:
            if prepared:
                return held
            raise Conflict(
                f"transaction {ident} is prepared: it takes only commit or rollback"
            )
        if txn is None:
            raise NotFound(f"transaction {ident} not found or already completed")
        return txn

    async def prepare(self, txn: Transaction, coordinator: Coordinator) -> None:
        """Phase one of a commit over several shards: makes the outcome certain.

        The writes are checked for conflicts and tried against the write hooks, the
        keys they write are reserved, and a record of both is made durable. From
        then on the transaction can always commit, and never expires: it ends only
        by `finish_prepared`, once its coordinator has decided.

        Raises:
            Conflict: a conflict, or a key another prepared transaction holds; the
                transaction is rolled back.
        """
        self._close(txn)
        with self._lock:
            self._prepared[txn.ident] = txn
        held = functools.partial(self._storage.locks.held, txn.ident)
        try:
            await self._storage.write_async(txn.prepare_ops(coordinator, held))
        except Exception as exc:
            with self._lock:
                self._prepared.pop(txn.ident, None)
            self._finish(txn, Status.ROLLED_BACK)
            if isinstance(exc, Conflict):
                self.stats["total_conflicts"] += 1
            raise
        txn.snapshot.close()
        txn.coordinator = coordinator
        txn.prepared_at = time.monotonic()
        txn.status = Status.PREPARED

    def finish_prepared(self, txn: Transaction, *, commit: bool) -> None:
        """Phase two: applies or discards a prepared transaction, as decided.

        Blocks until durable; a storage failure leaves it prepared.
        """
        with self._lock:
            if self._prepared.pop(txn.ident, None) is None:
                raise NotFound(
                    f"transaction {txn.ident} not found or already completed"
                )
        try:
            self._storage.write(txn.finish_prepared_ops(commit=commit))
        except Exception:
            with self._lock:
                self._prepared[txn.ident] = txn
            raise
        self._finish(txn, Status.COMMITTED if commit else Status.ROLLED_BACK)

    async def commit_decided(
        self, txn: Transaction, participants: dict[str, int]
    ) -> None:
        """The point of no return of a commit over several shards (after `decide`).

        Applies the transaction's own writes and records, in the same atomic batch,
        that it committed and which transactions on other shards (all prepared) must
        now commit too. Until they all have, the record answers `outcome`.

        Raises:
            Conflict: another writer changed a key this transaction wrote; nothing
                is applied or recorded.
        """
        record = _json.dumps({"participants": participants})
        decision = Put("decisions", record_key(txn.ident), record)
        try:
            await self._storage.write_async([txn.commit_ops(), decision])
        except Conflict:
            self.stats["total_conflicts"] += 1
            raise
        with self._lock:
            self._deciding.discard(txn.ident)
        self._finish(txn, Status.COMMITTED)

    def decide(self, txn: Transaction) -> None:
        """Closes a transaction to requests while its commit is being decided.

        Raises:
            NotFound: it is not open.
        """
        # In one step, so that `outcome` never finds it neither open nor deciding.
        self._close(txn, deciding=True)

    def abandon(self, txn: Transaction) -> None:
        """Rolls back a transaction whose commit was being decided."""
        with self._lock:
            if txn.ident not in self._deciding:
                return
            self._deciding.discard(txn.ident)
        self._finish(txn, Status.ROLLED_BACK)

    def outcome(self, ident: int) -> Status:
        """What became of a transaction this node coordinated, as far as it knows.

        ``ACTIVE`` while it may still commit; ``COMMITTED`` while a record of its
        commit is kept (until every other shard has committed its part);
        ``ROLLED_BACK`` otherwise: ids are never reused, so a transaction neither
        open nor recorded can no longer commit.
        """
        with self._lock:
            if ident in self._open or ident in self._deciding:
                return Status.ACTIVE
        if self._storage.get("decisions", record_key(ident)) is not None:
            return Status.COMMITTED
        return Status.ROLLED_BACK

    def decisions(self) -> list[tuple[int, dict[str, int]]]:
        """Commits whose parts on other shards may not all have committed yet."""
        with self._storage.snapshot() as view:
            records = list(view.scan("decisions"))
        return [
            (int(raw), dict(_json.loads(blob)["participants"])) for raw, blob in records
        ]

    def forget(self, ident: int) -> None:
        """Drops the record of a commit once every shard has committed its part."""
        self._storage.write([Delete("decisions", record_key(ident))])

    def prepared(self) -> list[Transaction]:
        """The prepared transactions, oldest first."""
        with self._lock:
            return sorted(self._prepared.values(), key=lambda t: t.prepared_at)

    async def commit(self, txn: Transaction) -> None:
        """Apply a transaction atomically.

        Raises:
            Conflict: another writer changed a key this transaction wrote.
        """
        self._close(txn)
        try:
            if txn.writes:
                await self._storage.write_async([txn.commit_ops()])
        except Conflict:
            self._finish(txn, Status.ROLLED_BACK)
            self.stats["total_conflicts"] += 1
            raise
        self._finish(txn, Status.COMMITTED)

    def rollback(self, txn: Transaction) -> None:
        """Discard a transaction's writes."""
        self._close(txn)
        self._finish(txn, Status.ROLLED_BACK)

    def _restore_prepared(self) -> None:
        """Takes up the prepared transactions a previous run left, keys reserved."""
        with self._storage.snapshot() as view:
            records = list(view.scan("prepared"))
        for raw, blob in records:
            snapshot = self._storage.snapshot()
            txn, held = Transaction.restored(int(raw), blob, snapshot)
            self._storage.locks.reserve(txn.ident, held)
            self._prepared[txn.ident] = txn

    def summary(self) -> dict[str, Any]:
        """The counters of ``GET /transaction/stats``."""
        self._expire()
        durations = self._durations or [0.0]
        finished = self.stats["total_committed"] + self.stats["total_aborted"]
        return {
            **self.stats,
            "active_count": len(self._open),
            "prepared_count": len(self._prepared),
            "undelivered_decisions": len(self.decisions()),
            "avg_duration_ms": sum(durations) / len(durations) * 1000,
            "max_duration_ms": max(durations) * 1000,
            "success_rate": self.stats["total_committed"] / finished
            if finished
            else 1.0,
        }

    def close_all(self) -> None:
        """Roll back everything still open (node shutdown)."""
        with self._lock:
            open_now = list(self._open.values())
        for txn in open_now:
            self.rollback(txn)

    def _close(self, txn: Transaction, *, deciding: bool = False) -> None:
        with self._lock:
            if self._open.pop(txn.ident, None) is None:
                raise NotFound(
                    f"transaction {txn.ident} not found or already completed"
                )
            if deciding:
                self._deciding.add(txn.ident)

    def _finish(self, txn: Transaction, status: Status) -> None:
        txn.status = status
        txn.snapshot.close()
        if self.on_finish is not None:
            self.on_finish(txn)
        key = "total_committed" if status is Status.COMMITTED else "total_aborted"
        self.stats[key] += 1
        self._durations = [*self._durations[-999:], time.monotonic() - txn.started]

    def _expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            idle = [
                t for t in self._open.values() if now - t.last_used > self._idle_timeout
            ]
            for txn in idle:
                del self._open[txn.ident]
        for txn in idle:
            self._finish(txn, Status.ROLLED_BACK)
