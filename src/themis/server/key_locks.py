"""Keys reserved by prepared transactions, and how a failed batch takes them back.

A prepared part of a cross-shard commit must be able to commit whatever happens
meanwhile, so the keys it is about to write (and the unique-index values it takes)
are reserved for it: the storage writer refuses any other batch that would write
them. Reservations change only on the writer thread, inside the batches that make
and drop them, and each change comes with the step that undoes it should its batch
or its group commit fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from themis.server.errors import Conflict

__all__ = ["KeyLocks", "take_back"]


class _Keyed(Protocol):
    @property
    def space(self) -> str: ...

    @property
    def key(self) -> bytes: ...


def take_back(journal: list[Callable[[], None]], mark: int = 0) -> None:
    """Takes back, latest first, the reservations made since ``mark``."""
    for step in reversed(journal[mark:]):
        step()
    del journal[mark:]


class KeyLocks:
    """Keys reserved by holders (prepared transactions); others may not write them.

    Changed only on the writer thread, inside the batches that reserve and release;
    every change returns the step that takes it back, should its batch fail.
    """

    def __init__(self) -> None:
        self._holders: dict[tuple[str, bytes], int] = {}
        self._keys: dict[int, set[tuple[str, bytes]]] = {}

    def __bool__(self) -> bool:
        return bool(self._holders)

    def check(self, op: _Keyed) -> None:
        """Refuses a write to a key someone holds.

        Raises:
            Conflict: the key is reserved.
        """
        holder = self._holders.get((op.space, op.key))
        if holder is not None:
            shown = op.key.replace(b"\x1f", b"/").decode(errors="replace")
            raise Conflict(
                f"{shown!r} is reserved by prepared transaction {holder} until it "
                "commits or rolls back; retry shortly"
            )

    def under(self, space: str, prefix: bytes) -> list[tuple[bytes, int]]:
        """Reserved keys of ``space`` under ``prefix``, with their holders."""
        return [
            (key, holder)
            for (where, key), holder in self._holders.items()
            if where == space and key.startswith(prefix)
        ]

    def held(self, holder: int) -> list[tuple[str, bytes]]:
        """The keys ``holder`` reserved."""
        return sorted(self._keys.get(holder, ()))

    def reserve(
        self, holder: int, keys: Iterable[tuple[str, bytes]]
    ) -> list[Callable[[], None]]:
        """Reserves keys for ``holder``; returns the steps that take it back."""
        mine = self._keys.setdefault(holder, set())
        added = [key for key in keys if key not in mine]
        for key in added:
            self._holders[key] = holder
            mine.add(key)

        def undo() -> None:
            for key in added:
                self._holders.pop(key, None)
                mine.discard(key)
            if not mine:
                self._keys.pop(holder, None)

        return [undo]

    def release(self, holder: int) -> list[Callable[[], None]]:
        """Drops every key of ``holder``; returns the steps that take it back."""
        keys = self._keys.pop(holder, set())
        for key in keys:
            del self._holders[key]

        def undo() -> None:
            self.reserve(holder, keys)

        return [undo]
