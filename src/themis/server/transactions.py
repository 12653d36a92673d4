"""Transactions: buffered writes, reads of one's own writes, atomic commit.

A transaction keeps its writes in memory until commit. Reads through it see those
writes first, then either the snapshot taken at begin (``snapshot`` isolation) or the
latest committed data (``read_committed``). Commit runs inside the storage writer's
transaction: every key the transaction wrote must still hold the value it had when the
transaction began, otherwise another writer got there first and the commit is a 409
(first committer wins); if all keys are unchanged, every write is applied atomically.
"""

from __future__ import annotations

import base64
import enum
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from themis import _json
from themis.server.errors import BadRequest, Conflict
from themis.server.keys import DocKey
from themis.server.overlay import OverlayView
from themis.server.storage import Snapshot
from themis.server.storage_ops import (
    Compute,
    Delete,
    Hold,
    Op,
    Put,
    ReadView,
    Release,
    Step,
    WriteHook,
)

# Transaction ids count up from 1; twenty digits hold any 64-bit id.
_MAX_ID_DIGITS = 20


class Isolation(enum.StrEnum):
    """How a transaction's reads see other writers."""

    READ_COMMITTED = "read_committed"
    SNAPSHOT = "snapshot"


class Status(enum.StrEnum):
    """Where a transaction is in its life."""

    ACTIVE = "active"
    #: Its writes are checked, durable and their keys reserved; it awaits the word
    #: of its coordinator (see `prepare`).
    PREPARED = "prepared"
    COMMITTED = "committed"
    ROLLED_BACK = "rolled_back"


class Coordinator(NamedTuple):
    """The transaction on another shard whose commit decides a prepared one."""

    shard_id: str
    transaction_id: int


@dataclass
class Transaction:
    """One open transaction."""

    ident: int
    isolation: Isolation
    snapshot: Snapshot
    started: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    writes: dict[bytes, bytes | None] = field(default_factory=dict)
    keys: dict[bytes, DocKey] = field(default_factory=dict)
    status: Status = Status.ACTIVE
    #: The ids of the transactions it holds on other shards, by shard id.
    remote: dict[str, int] = field(default_factory=dict)
    #: The shards among ``remote`` it has written to.
    remote_writes: set[str] = field(default_factory=set)
    #: Guards ``remote`` and its end.
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Set once prepared: who decides, and when it was prepared.
    coordinator: Coordinator | None = None
    prepared_at: float = 0.0
    #: Hooks whose derived data (graph adjacency) reads show for ``writes`` too.
    derive: Sequence[WriteHook] = ()

    def read_view(
        self, latest: Callable[[], Snapshot]
    ) -> tuple[ReadView, Callable[[], None]]:
        """A view showing this transaction's writes; the closer releases it."""
        self.last_used = time.monotonic()
        if self.isolation is Isolation.SNAPSHOT:
            return OverlayView(self.snapshot, self.writes, self.derive), _nothing
        fresh = latest()
        return OverlayView(fresh, self.writes, self.derive), fresh.close

    def get(self, key: DocKey, latest: Callable[[], Snapshot]) -> bytes | None:
        """The document as this transaction sees it."""
        view, close = self.read_view(latest)
        try:
            return view.get("docs", key.storage())
        finally:
            close()

    def put(self, key: DocKey, blob: bytes) -> None:
        """Buffer a write."""
        self._buffer(key, blob)

    def delete(self, key: DocKey, latest: Callable[[], Snapshot]) -> bool:
        """Buffer a delete; returns whether the transaction saw the document."""
        existed = self.get(key, latest) is not None
        if existed:
            self._buffer(key, None)
        return existed

    def collections_written(self, namespace: str) -> set[str]:
        """The collections of ``namespace`` this transaction writes documents to."""
        return {
            key.collection
            for raw, key in self.keys.items()
            if key.namespace == namespace and self.writes.get(raw) is not None
        }

    def has_writes(self) -> bool:
        """Whether anything is buffered (queries then cannot trust indexes)."""
        return bool(self.writes)

    def commit_ops(self) -> Compute:
        """The storage operation that checks for conflicts and applies the writes."""
        return Compute(self._check_and_apply)

    def prepare_ops(
        self, coordinator: Coordinator, held: Callable[[], list[tuple[str, bytes]]]
    ) -> list[Step]:
        """The batch that prepares this transaction: checked, reserved, recorded.

        Args:
            coordinator: Who decides the outcome.
            held: The keys reserved for this transaction, once they are.
        """

        def check(view: ReadView) -> list[Op]:
            self._check(view)
            return []

        return [
            Compute(check),
            Hold(self.ident, self._write_ops()),
            Compute(lambda view: [self._record(coordinator, held())]),
        ]

    def finish_prepared_ops(self, *, commit: bool) -> list[Step]:
        """The batch that ends a prepared transaction: applied or discarded."""
        writes: list[Step] = [*self._write_ops()] if commit else []
        return [Release(self.ident), *writes, Delete("prepared", _record_key(self))]

    def _record(self, coordinator: Coordinator, held: list[tuple[str, bytes]]) -> Put:
        # Written after the reservation, so that it lists the keys reserved.
        record = {
            "coordinator": list(coordinator),
            "isolation": self.isolation.value,
            "writes": [
                [_b64(raw), None if blob is None else _b64(blob)]
                for raw, blob in self.writes.items()
            ],
            "held": [[space, _b64(key)] for space, key in held],
        }
        return Put("prepared", _record_key(self), _json.dumps(record))

    @classmethod
    def restored(
        cls, ident: int, record: bytes, snapshot: Snapshot
    ) -> tuple[Transaction, list[tuple[str, bytes]]]:
        """A prepared transaction from its durable record, with the keys it held.

        A prepared transaction reads nothing more, so ``snapshot`` is closed.
        """
        fields = _json.loads(record)
        snapshot.close()
        txn = cls(ident, Isolation(fields["isolation"]), snapshot)
        txn.writes = {
            _unb64(key): None if value is None else _unb64(value)
            for key, value in fields["writes"]
        }
        txn.coordinator = Coordinator(*fields["coordinator"])
        txn.status = Status.PREPARED
        held = [(space, _unb64(key)) for space, key in fields["held"]]
        return txn, held

    def _buffer(self, key: DocKey, blob: bytes | None) -> None:
        self.last_used = time.monotonic()
        raw = key.storage()
        self.writes[raw] = blob
        self.keys[raw] = key

    def _check_and_apply(self, view: ReadView) -> Sequence[Put | Delete]:
        self._check(view)
        return self._write_ops()

    def _check(self, view: ReadView) -> None:
        for raw in self.writes:
            if view.get("docs", raw) != self.snapshot.get("docs", raw):
                raise Conflict(
                    f"write-write conflict on {self.keys[raw].wire!r}: another "
                    f"transaction changed it after transaction {self.ident} began; "
                    "retry the transaction"
                )

    def _write_ops(self) -> list[Put | Delete]:
        return [
            Put("docs", raw, blob) if blob is not None else Delete("docs", raw)
            for raw, blob in self.writes.items()
        ]


def _nothing() -> None:
    return None


def _record_key(txn: Transaction) -> bytes:
    return record_key(txn.ident)


def record_key(ident: int) -> bytes:
    """The key of a transaction's records (prepared parts, decisions)."""
    # Zero-padded, so records list in id order.
    return f"{ident:020d}".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def parse_ident(raw: Any) -> int:
    """Read a transaction id given as a JSON number or a decimal string.

    Raises:
        BadRequest: the value is not a non-negative integer.
    """
    if isinstance(raw, bool):
        raw = None
    if isinstance(raw, str):
        text = raw.strip()
        # str.isdigit also accepts digits int() refuses, such as superscripts.
        if text.isascii() and text.isdigit() and len(text) <= _MAX_ID_DIGITS:
            return int(text)
    if isinstance(raw, int) and raw >= 0:
        return raw
    raise BadRequest(
        f"expected a transaction id (a non-negative integer), received {raw!r:.40}"
    )
