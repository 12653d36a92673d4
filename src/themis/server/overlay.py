"""A read view that shows a transaction's buffered writes over stored data."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence

from themis.server.storage_ops import Delete, Op, Put, ReadView, WriteHook

__all__ = ["OverlayView"]

Layer = dict[bytes, bytes | None]
"""Keys of one space as the transaction left them; ``None`` where it deleted one."""


class OverlayView:
    """A read view that shows a transaction's buffered documents over a base view.

    Args:
        base: The stored data the transaction reads.
        writes: The transaction's buffered documents, ``None`` for a delete.
        derive: Write hooks whose derived data (graph adjacency) the view shows for
            the buffered documents as well, as it will be once they commit. They
            run on the first read of a space other than ``docs``.
    """

    def __init__(
        self, base: ReadView, writes: Layer, derive: Sequence[WriteHook] = ()
    ) -> None:
        self._base = base
        self._layers: dict[str, Layer] = {"docs": writes}
        self._derive: Sequence[WriteHook] | None = derive or None

    def get(self, space: str, key: bytes) -> bytes | None:
        layer = self._layer(space)
        if layer is not None and key in layer:
            return layer[key]
        return self._base.get(space, key)

    def get_many(self, space: str, keys: Sequence[bytes]) -> list[bytes | None]:
        return [self.get(space, key) for key in keys]

    def scan(
        self, space: str, prefix: bytes = b"", *, start: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        layer = self._layer(space)
        if not layer:
            return self._base.scan(space, prefix, start=start)
        low = prefix if start is None else max(prefix, start)
        own = sorted(
            (key, value)
            for key, value in layer.items()
            if key.startswith(prefix) and key >= low
        )
        stored = self._stored(space, layer, prefix, start)
        merged = heapq.merge(own, stored, key=lambda kv: kv[0])
        return self._visible(merged)

    def scan_back(
        self, space: str, prefix: bytes, *, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        return self._base.scan_back(space, prefix, end=end)

    def reserved(self, space: str, prefix: bytes) -> list[tuple[bytes, int]]:
        return self._base.reserved(space, prefix)

    def _layer(self, space: str) -> Layer | None:
        if space != "docs" and self._derive is not None:
            self._derive_layers(self._derive)
        return self._layers.get(space)

    def _derive_layers(self, hooks: Sequence[WriteHook]) -> None:
        # Each hook sees the document it replaces in the base view, as it will in
        # the commit; a key holds the transaction's last write only, so one pass is
        # exact.
        self._derive = None
        for key, value in self._layers["docs"].items():
            op: Op = Delete("docs", key) if value is None else Put("docs", key, value)
            old = self._base.get("docs", key)
            for hook in hooks:
                for derived in hook(self._base, op, old):
                    if derived.space == "docs":
                        continue
                    layer = self._layers.setdefault(derived.space, {})
                    layer[derived.key] = (
                        derived.value if isinstance(derived, Put) else None
                    )

    def _stored(
        self, space: str, layer: Layer, prefix: bytes, start: bytes | None
    ) -> Iterator[tuple[bytes, bytes | None]]:
        for key, value in self._base.scan(space, prefix, start=start):
            if key not in layer:
                yield key, value

    @staticmethod
    def _visible(
        entries: Iterator[tuple[bytes, bytes | None]],
    ) -> Iterator[tuple[bytes, bytes]]:
        for key, value in entries:
            if value is not None:
                yield key, value
