"""The engine-neutral vocabulary of storage: operations, read views, hooks.

A batch of `Step` values is what a caller hands to the storage to apply atomically;
`ReadView` is what every reader and write hook sees, whatever engine is underneath.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

__all__ = [
    "Change",
    "CommitListener",
    "Compute",
    "Delete",
    "Hold",
    "Op",
    "Put",
    "ReadView",
    "Release",
    "Step",
    "WriteHook",
]


# Operations and changes are made once per written key, so they are named tuples,
# which cost a third of what a frozen dataclass costs to create.


class Put(NamedTuple):
    """Store ``value`` at ``key`` in ``space``."""

    space: str
    key: bytes
    value: bytes


class Delete(NamedTuple):
    """Remove ``key`` from ``space``; a missing key is not an error."""

    space: str
    key: bytes


@dataclass(frozen=True, slots=True)
class Compute:
    """Operations decided inside the write transaction, from its current state.

    Used where a decision must see exactly the data it changes: backfilling a new
    index, checking a transaction for conflicts at commit.
    """

    derive: Callable[[ReadView], Sequence[Put | Delete]]


Op = Put | Delete


class Hold(NamedTuple):
    """Try ``ops`` and reserve every key they would write for ``holder``.

    The trial runs the write hooks in a transaction that is then discarded, so a
    batch that could not be applied (a unique-index violation, a key another holder
    reserved) fails here, and nothing is written. Until the reservation is released,
    only ``holder``'s own batches may write those keys (collection registrations in
    ``meta`` excepted: they are idempotent); everyone else gets a 409.
    """

    holder: int
    ops: Sequence[Put | Delete]


class Release(NamedTuple):
    """Drop every key ``holder`` reserved; the batch's later operations may use them."""

    holder: int


Step = Op | Compute | Hold | Release


class ReadView(Protocol):
    """Reads inside one consistent snapshot."""

    def get(self, space: str, key: bytes) -> bytes | None: ...

    def get_many(self, space: str, keys: Sequence[bytes]) -> list[bytes | None]: ...

    def scan(
        self, space: str, prefix: bytes = b"", *, start: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]: ...

    def scan_back(
        self, space: str, prefix: bytes, *, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]: ...

    def reserved(self, space: str, prefix: bytes) -> list[tuple[bytes, int]]:
        """Keys under ``prefix`` reserved by prepared transactions, with holders.

        Only a writer's view knows them; a hook whose constraint spans keys (a
        unique index) treats them as taken.
        """
        ...


class WriteHook(Protocol):
    """Derives extra operations from a write, inside the same transaction.

    Hooks keep derived data (collection registry, secondary indexes, graph adjacency)
    consistent with the documents: they see the value before and after each write and
    may raise a `ServerError` to reject the batch that contains it.
    """

    def __call__(self, view: ReadView, op: Op, old: bytes | None) -> Sequence[Op]: ...


class CommitListener(Protocol):
    """Told about every write after it is durable, in commit order.

    Listeners maintain in-memory structures (such as vector indexes) that must never
    reflect a write that was rolled back. They run on the writer thread and must be
    quick and must not raise.
    """

    def __call__(self, changes: Sequence[Change]) -> None: ...


class Change(NamedTuple):
    """One committed operation with the value it replaced."""

    op: Op
    old: bytes | None
