"""One vector index: exact numpy search below a size, faiss HNSW above it.

Small indexes answer by exact numpy search; from `HNSW_THRESHOLD` live vectors on, a
faiss HNSW graph answers. HNSW cannot remove entries, so a delete leaves a tombstone
that searches skip through an id selector, and the graph is rebuilt once tombstones
outnumber live vectors.

Distances (smaller is better) and scores are defined in `vector_spec`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from themis.server.errors import Unavailable
from themis.server.keys import decode_storage_key
from themis.server.shared_lock import SharedLock
from themis.server.vector_filters import matches
from themis.server.vector_spec import IndexSpec, Matrix

__all__ = [
    "EXACT_FILTER_LIMIT",
    "HNSW_THRESHOLD",
    "Hit",
    "IndexState",
    "VectorIndex",
]

HNSW_THRESHOLD = 10_000
"""Live vectors from which an index switches from exact search to HNSW."""

EXACT_FILTER_LIMIT = 20_000
"""Filtered searches over at most this many matches run exactly."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result."""

    key: bytes
    distance: float

    @property
    def pk(self) -> str:
        """The document's primary key."""
        return decode_storage_key(self.key).pk


READY_WAIT_SECONDS = 60.0
"""How long a search waits for an index that is still being built."""


@dataclass(frozen=True)
class IndexState:
    """What a filled index holds, slot by slot: the part worth saving.

    Attributes:
        data: One vector per slot, as stored (unit length for cosine).
        keys: The document key of each slot; ``None`` for a removed vector.
        meta: The filterable fields of each slot's document.
        hnsw: The serialized HNSW graph over every slot, when the index has one.
    """

    data: Matrix
    keys: list[bytes | None]
    meta: list[dict[str, Any]]
    hnsw: npt.NDArray[np.uint8] | None


class VectorIndex:
    """The vectors of one collection with exact and HNSW search.

    Updates come from the writer thread and searches from worker threads. Searches
    share a lock and run in parallel; updates take it alone, because faiss does not
    allow adds during a search.
    """

    def __init__(self, spec: IndexSpec) -> None:
        self.spec = spec
        self._lock = SharedLock()
        self._data: Matrix = np.empty((1024, spec.dimension), dtype=np.float32)
        self._keys: list[bytes | None] = []
        self._meta: list[dict[str, Any]] = []
        self._slots: dict[bytes, int] = {}
        self._hnsw: Any = None
        self._live_bits: npt.NDArray[np.uint8] | None = None
        # While the index is first filled from storage, keys that committed writes
        # already set are remembered, so the older stored version cannot win.
        self._touched: set[bytes] | None = set()
        self._ready = threading.Event()

    def __len__(self) -> int:
        return len(self._slots)

    @classmethod
    def restore(cls, spec: IndexSpec, state: IndexState) -> VectorIndex:
        """A ready index holding ``state``.

        Raises:
            ValueError: the parts of ``state`` do not fit together or ``spec``.
        """
        count = len(state.keys)
        if state.data.shape != (count, spec.dimension) or len(state.meta) != count:
            raise ValueError(
                f"expected {count} vectors of dimension {spec.dimension} with their "
                f"fields, received {state.data.shape} and {len(state.meta)} fields"
            )
        hnsw: Any = None
        if state.hnsw is not None:
            hnsw = faiss.deserialize_index(state.hnsw)
        if hnsw is not None and (hnsw.ntotal != count or hnsw.d != spec.dimension):
            raise ValueError(
                f"expected an HNSW graph over {count} vectors, received {hnsw.ntotal}"
            )
        index = cls(spec)
        index._data = np.empty((max(1024, count), spec.dimension), dtype=np.float32)
        index._data[:count] = state.data
        index._keys = list(state.keys)
        index._meta = list(state.meta)
        index._slots = {key: slot for slot, key in enumerate(state.keys) if key}
        index._hnsw = hnsw
        if hnsw is not None:
            hnsw.hnsw.efConstruction = spec.ef_construction
        index.mark_ready()
        return index

    def state(self) -> IndexState | None:
        """A copy of what the index holds; ``None`` while it is still being filled."""
        if not self.ready:
            return None
        with self._lock.reading():
            count = len(self._keys)
            hnsw = None if self._hnsw is None else faiss.serialize_index(self._hnsw)
            data = self._data[:count].copy()
            return IndexState(data, list(self._keys), list(self._meta), hnsw)

    @property
    def uses_hnsw(self) -> bool:
        """Whether searches currently go through the HNSW graph."""
        return self._hnsw is not None

    def prepare(self, vector: Sequence[float]) -> Matrix | None:
        """The stored form of a vector (unit length for cosine); None if it has none."""
        array = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        if self.spec.metric == "cosine":
            norm = float(np.linalg.norm(array))
            if norm == 0.0 or not math.isfinite(norm):
                return None
            array /= norm
        return array

    def apply(
        self,
        upserts: Iterable[tuple[bytes, Matrix, dict[str, Any]]],
        removals: Iterable[bytes],
    ) -> None:
        """Add, replace and remove vectors in one step."""
        upserts, removals = list(upserts), list(removals)
        with self._lock.writing():
            if self._touched is not None:
                self._touched.update(removals)
                self._touched.update(key for key, _, _ in upserts)
            self._change(upserts, removals)

    def fill(self, upserts: Iterable[tuple[bytes, Matrix, dict[str, Any]]]) -> None:
        """Add stored vectors while the index is being built, unless a committed
        write has already set their key."""
        with self._lock.writing():
            touched = self._touched or set()
            self._change([u for u in upserts if u[0] not in touched], [])

    def mark_ready(self) -> None:
        """End the initial fill; searches may run from now on."""
        with self._lock.writing():
            self._touched = None
        self._ready.set()

    @property
    def ready(self) -> bool:
        """Whether the initial fill from storage has finished."""
        return self._ready.is_set()

    def _change(
        self,
        upserts: list[tuple[bytes, Matrix, dict[str, Any]]],
        removals: list[bytes],
    ) -> None:
        first_new = len(self._keys)
        for key in removals:
            self._remove(key)
        for key, row, meta in upserts:
            self._upsert(key, row, meta)
        self._live_bits = None
        self._maintain(first_new)

    def set_ef_search(self, ef_search: int) -> None:
        """Change the HNSW search breadth."""
        with self._lock.writing():
            self.spec = replace(self.spec, ef_search=ef_search)

    def _upsert(self, key: bytes, row: Matrix, meta: dict[str, Any]) -> None:
        slot = self._slots.get(key)
        if slot is not None and np.array_equal(self._data[slot], row[0]):
            self._meta[slot] = meta
            return
        if slot is not None:
            self._remove(key)
        slot = len(self._keys)
        if slot == len(self._data):
            self._data = np.concatenate([self._data, np.empty_like(self._data)])
        self._data[slot] = row[0]
        self._keys.append(key)
        self._meta.append(meta)
        self._slots[key] = slot

    def _remove(self, key: bytes) -> None:
        slot = self._slots.pop(key, None)
        if slot is not None:
            self._keys[slot] = None
            self._meta[slot] = {}

    def _maintain(self, first_new: int) -> None:
        dead = len(self._keys) - len(self._slots)
        if dead > max(len(self._slots), 1024):
            self._compact()
            first_new = 0
            self._hnsw = None
        if self._hnsw is None and len(self._slots) >= HNSW_THRESHOLD:
            self._hnsw = self._new_hnsw()
            first_new = 0
        elif self._hnsw is not None and len(self._slots) < HNSW_THRESHOLD // 2:
            self._hnsw = None
        if self._hnsw is not None and first_new < len(self._keys):
            self._hnsw.add(self._data[first_new : len(self._keys)])

    def _compact(self) -> None:
        live = [slot for slot, key in enumerate(self._keys) if key is not None]
        data = self._data[live] if live else self._data[:0]
        capacity = max(1024, len(live) * 2)
        self._data = np.empty((capacity, self.spec.dimension), dtype=np.float32)
        self._data[: len(live)] = data
        self._keys = [self._keys[slot] for slot in live]
        self._meta = [self._meta[slot] for slot in live]
        self._slots = {key: slot for slot, key in enumerate(self._keys) if key}

    def _new_hnsw(self) -> Any:
        spec = self.spec
        kind = faiss.METRIC_L2 if spec.metric == "l2" else faiss.METRIC_INNER_PRODUCT
        index = faiss.IndexHNSWFlat(spec.dimension, spec.m, kind)
        index.hnsw.efConstruction = spec.ef_construction
        return index

    # --- search -----------------------------------------------------------------

    def search(
        self, query: Matrix, k: int, only: dict[str, Any] | None = None
    ) -> list[Hit]:
        """The ``k`` nearest live vectors, best first, among those matching ``only``.

        Raises:
            Unavailable: the index is still being built from storage after a while.
        """
        if not self._ready.wait(READY_WAIT_SECONDS):
            raise Unavailable(
                f"the vector index of {self.spec.collection!r} is still being built "
                f"from {len(self)} stored vectors so far; retry shortly"
            )
        with self._lock.reading():
            if only is None:
                candidates = None
            else:
                candidates = [
                    slot
                    for slot, key in enumerate(self._keys)
                    if key is not None and matches(self._meta[slot], only)
                ]
            use_exact = self._hnsw is None or (
                candidates is not None and len(candidates) <= EXACT_FILTER_LIMIT
            )
            if use_exact:
                slots, distances = self._exact(query, k, candidates)
            else:
                slots, distances = self._approximate(query, k, candidates)
            return [
                Hit(self._keys[slot] or b"", float(distance))
                for slot, distance in zip(slots, distances, strict=True)
            ]

    def _exact(
        self, query: Matrix, k: int, candidates: list[int] | None
    ) -> tuple[list[int], list[float]]:
        if candidates is None:
            candidates = [s for s, key in enumerate(self._keys) if key is not None]
        if not candidates:
            return [], []
        chosen = np.asarray(candidates, dtype=np.int64)
        distances = self.distances(self._data[chosen], query[0])
        top = min(k, len(chosen))
        # Every vector as near as the k-th is a candidate, so that equal distances
        # are settled by key below rather than by where the vectors happen to sit.
        if top < len(chosen):
            kth = np.partition(distances, top - 1)[top - 1]
            picked = np.flatnonzero(distances <= kth)
        else:
            picked = np.arange(len(chosen))
        slots, values = chosen[picked].tolist(), distances[picked].tolist()
        return self._by_key(slots, values, top)

    def _by_key(
        self, slots: list[int], values: list[float], top: int
    ) -> tuple[list[int], list[float]]:
        """The ``top`` nearest, equal distances in key order (as on any shard)."""
        ranked = sorted(
            zip(values, slots, strict=True),
            key=lambda pair: (pair[0], self._keys[pair[1]] or b""),
        )[:top]
        return [slot for _, slot in ranked], [value for value, _ in ranked]

    def distances(self, rows: Matrix, query: Matrix) -> Matrix:
        """Distances of stored rows (see :meth:`prepare`) to one query row."""
        if self.spec.metric == "l2":
            delta = rows - query
            squared: Matrix = np.einsum("ij,ij->i", delta, delta)
            return squared
        products: Matrix = rows @ query
        return 1.0 - products if self.spec.metric == "cosine" else -products

    def _approximate(
        self, query: Matrix, k: int, candidates: list[int] | None
    ) -> tuple[list[int], list[float]]:
        # The installed faiss stubs omit the HNSW search parameters.
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        params.efSearch = max(self.spec.ef_search, k)
        if candidates is not None:
            bits = np.zeros(len(self._keys), dtype=bool)
            bits[candidates] = True
            packed = np.packbits(bits, bitorder="little")
        else:
            packed = self._live_bitmap()
        params.sel = faiss.IDSelectorBitmap(len(self._keys), faiss.swig_ptr(packed))
        raw, labels = self._hnsw.search(query, k, params=params)
        found = labels[0] >= 0
        slots = labels[0][found].tolist()
        values = raw[0][found]
        if self.spec.metric == "cosine":
            values = 1.0 - values
        elif self.spec.metric == "dot":
            values = -values
        return self._by_key(slots, values.tolist(), k)

    def _live_bitmap(self) -> npt.NDArray[np.uint8]:
        if self._live_bits is None:
            bits = np.fromiter((k is not None for k in self._keys), dtype=bool)
            self._live_bits = np.packbits(bits, bitorder="little")
        return self._live_bits
