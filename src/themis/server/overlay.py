"""A read view that shows a transaction's buffered writes over stored data."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence

from themis.server.storage import ReadView

__all__ = ["OverlayView"]


class OverlayView:
    """A read view that shows a transaction's buffered documents over a base view."""

    def __init__(self, base: ReadView, writes: dict[bytes, bytes | None]) -> None:
        self._base = base
        self._writes = writes

    def get(self, space: str, key: bytes) -> bytes | None:
        if space == "docs" and key in self._writes:
            return self._writes[key]
        return self._base.get(space, key)

    def get_many(self, space: str, keys: Sequence[bytes]) -> list[bytes | None]:
        return [self.get(space, key) for key in keys]

    def scan(
        self, space: str, prefix: bytes = b"", *, start: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        if space != "docs":
            return self._base.scan(space, prefix, start=start)
        low = prefix if start is None else max(prefix, start)
        own = sorted(
            (key, value)
            for key, value in self._writes.items()
            if key.startswith(prefix) and key >= low
        )
        merged = heapq.merge(own, self._stored(prefix, start), key=lambda kv: kv[0])
        return self._visible(merged)

    def scan_back(
        self, space: str, prefix: bytes, *, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        return self._base.scan_back(space, prefix, end=end)

    def reserved(self, space: str, prefix: bytes) -> list[tuple[bytes, int]]:
        return self._base.reserved(space, prefix)

    def _stored(
        self, prefix: bytes, start: bytes | None
    ) -> Iterator[tuple[bytes, bytes | None]]:
        for key, value in self._base.scan("docs", prefix, start=start):
            if key not in self._writes:
                yield key, value

    @staticmethod
    def _visible(
        entries: Iterator[tuple[bytes, bytes | None]],
    ) -> Iterator[tuple[bytes, bytes]]:
        for key, value in entries:
            if value is not None:
                yield key, value
