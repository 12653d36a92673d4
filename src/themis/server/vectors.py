"""The vector indexes of a node: one per (namespace, collection), beside LMDB.

The documents in LMDB are the truth; an index is derived from them. Each index is
built from the stored documents when the node starts and then follows every durable
write through a commit listener, so it never reflects a write that was rolled back
and is consistent after a crash. Index definitions live in the ``meta`` space; the
search itself is :class:`themis.server.vector_index.VectorIndex`.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from themis import _json
from themis.server.keys import DocKey, collection_prefix, decode_storage_key
from themis.server.storage import Storage
from themis.server.storage_ops import Change, Put, ReadView
from themis.server.vector_files import SavedIndexes, save_index
from themis.server.vector_filters import matches
from themis.server.vector_index import Hit, VectorIndex
from themis.server.vector_spec import (
    SPEC_PREFIX,
    IndexSpec,
    Matrix,
    stored_specs,
    vector_of,
)

if TYPE_CHECKING:
    from themis.server.state import NodeState

__all__ = [
    "VectorCatalog",
    "entry_of",
    "install_vectors",
    "read_documents",
    "seen_hits",
]

logger = logging.getLogger(__name__)

FILL_CHUNK = 1024
"""Stored vectors added per step of a fill; writes wait at most one step."""

# --- the node's indexes -----------------------------------------------------------


class VectorCatalog:
    """Every vector index of a node, kept in step with committed writes.

    Args:
        storage: The node's storage.
        directory: Where indexes are saved at shutdown and reused from at start
            (see :mod:`themis.server.vector_files`); ``None`` always rebuilds.
    """

    def __init__(self, storage: Storage, directory: Path | None = None) -> None:
        self.storage = storage
        self.directory = directory
        self._indexes: dict[tuple[str, str], VectorIndex] = {}
        self._builders: list[threading.Thread] = []
        self.secret = secrets.token_bytes(32)
        """Signs search cursors; tokens end with the process, like the index."""

    def get(self, namespace: str, collection: str) -> VectorIndex | None:
        """The index of a collection, if one exists."""
        return self._indexes.get((namespace, collection))

    def load(self) -> None:
        """Reuse every saved index that is still current; build the others."""
        with self.storage.snapshot() as view:
            specs = stored_specs(view)
        saved = None
        if self.directory is not None:
            saved = SavedIndexes(self.directory, self.storage.version())
        for spec in specs:
            index = saved.take(spec) if saved is not None else None
            if index is None:
                self._build(spec)
            else:
                self._indexes[(spec.namespace, spec.collection)] = index
        if saved is not None:
            saved.discard()

    def save(self) -> int:
        """Save every filled index for reuse at the next start; returns how many.

        Call it only once writes have stopped, so that the indexes and the storage
        version agree.
        """
        if self.directory is None:
            return 0
        version = self.storage.version()
        return sum(
            save_index(self.directory, version, index)
            for index in self._indexes.values()
        )

    def on_commit(self, changes: Sequence[Change]) -> None:
        """Apply committed document writes to the indexes (a `CommitListener`)."""
        if not self._indexes and all(change.op.space != "meta" for change in changes):
            return
        pending: dict[tuple[str, str], tuple[list[Any], list[bytes]]] = {}
        for change in changes:
            op = change.op
            if op.space == "meta" and op.key.startswith(SPEC_PREFIX):
                self._flush(pending)
                self._define(op.value if isinstance(op, Put) else None)
            elif op.space == "docs":
                self._stage(op.key, op.value if isinstance(op, Put) else None, pending)
        self._flush(pending)

    def _define(self, raw: bytes | None) -> None:
        if raw is None:
            return
        spec = IndexSpec(**_json.loads(raw))
        current = self.get(spec.namespace, spec.collection)
        if current is not None and current.spec.same_shape(spec):
            current.set_ef_search(spec.ef_search)
        else:
            self._build(spec)

    def _build(self, spec: IndexSpec) -> None:
        # Filling from storage can take a while (HNSW inserts), so it runs beside
        # the writer; searches wait for it and committed writes keep applying.
        index = VectorIndex(spec)
        self._indexes[(spec.namespace, spec.collection)] = index
        thread = threading.Thread(
            target=self._fill, args=(index,), name="themis-vector-build", daemon=True
        )
        self._builders = [t for t in self._builders if t.is_alive()] + [thread]
        thread.start()

    def _fill(self, index: VectorIndex) -> None:
        spec = index.spec
        prefix = collection_prefix(spec.namespace, spec.collection)
        batch: list[tuple[bytes, Matrix, dict[str, Any]]] = []
        try:
            with self.storage.snapshot() as view:
                for raw, blob in view.scan("docs", prefix):
                    entry = entry_of(index, blob)
                    if entry is not None:
                        batch.append((raw, *entry))
                    if len(batch) >= FILL_CHUNK:
                        index.fill(batch)
                        batch = []
            index.fill(batch)
        except Exception:
            logger.exception("building the vector index of %r failed", spec.collection)
        finally:
            index.mark_ready()

    def wait_built(self, timeout: float | None = None) -> None:
        """Wait until every index started so far is filled (tests, benchmarks)."""
        for thread in list(self._builders):
            thread.join(timeout)

    def _stage(
        self,
        raw_key: bytes,
        blob: bytes | None,
        pending: dict[tuple[str, str], tuple[list[Any], list[bytes]]],
    ) -> None:
        if not self._indexes:
            return
        namespace, collection, _ = raw_key.decode().split("\x1f", 2)
        index = self.get(namespace, collection)
        if index is None:
            return
        upserts, removals = pending.setdefault((namespace, collection), ([], []))
        entry = entry_of(index, blob) if blob is not None else None
        if entry is None:
            removals.append(raw_key)
        else:
            upserts.append((raw_key, *entry))

    def _flush(
        self, pending: dict[tuple[str, str], tuple[list[Any], list[bytes]]]
    ) -> None:
        for (namespace, collection), (upserts, removals) in pending.items():
            index = self.get(namespace, collection)
            if index is not None:
                index.apply(upserts, removals)
        pending.clear()


def entry_of(index: VectorIndex, blob: bytes) -> tuple[Matrix, dict[str, Any]] | None:
    """What the index would hold for a stored document: its vector's stored form
    and its other fields (for filters); ``None`` if it has no usable vector."""
    name = index.spec.field
    if name.encode() not in blob:
        return None
    try:
        doc = _json.loads(blob)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    vector = vector_of(doc.pop(name, None), index.spec.dimension)
    if isinstance(vector, str):
        return None
    row = index.prepare(vector)
    return None if row is None else (row, doc)


def seen_hits(
    index: VectorIndex,
    view: ReadView,
    own: Mapping[bytes, bytes | None] | None,
    query: Matrix,
    k: int,
    only: dict[str, Any] | None,
) -> list[Hit]:
    """The ``k`` nearest documents of the index's collection as ``view`` shows it.

    Args:
        index: The collection's index, which follows committed writes.
        view: A transaction's view.
        own: The transaction's buffered documents (``None`` for a delete). The
            index then stands for the stored ones, and only these are ranked here.
            ``None`` ranks every document of the view instead: its snapshot may be
            older than the index.
        query: The query's stored form.
        k: How many hits.
        only: A checked filter, if any.
    """
    prefix = collection_prefix(index.spec.namespace, index.spec.collection)
    hits: list[Hit] = []
    if own is None:
        entries: list[tuple[bytes, bytes]] = list(view.scan("docs", prefix))
    else:
        mine = {key: blob for key, blob in own.items() if key.startswith(prefix)}
        found = index.search(query, k + len(mine), only)
        hits = [hit for hit in found if hit.key not in mine]
        entries = [(key, blob) for key, blob in mine.items() if blob is not None]
    keys, rows = [], []
    for key, blob in entries:
        entry = entry_of(index, blob)
        if entry is not None and (only is None or matches(entry[1], only)):
            keys.append(key)
            rows.append(entry[0][0])
    if rows:
        distances = index.distances(np.stack(rows), query[0])
        hits += [Hit(key, float(d)) for key, d in zip(keys, distances, strict=True)]
    # Equal distances go by key, as the index and a cluster's merge order them.
    return sorted(hits, key=lambda hit: (hit.distance, hit.key))[:k]


def read_documents(
    view: ReadView, keys: Sequence[bytes]
) -> list[dict[str, Any] | None]:
    """The stored documents behind search hits, decoded."""
    from themis.server.documents import decode_document

    docs: list[dict[str, Any] | None] = []
    for raw in keys:
        blob = view.get("docs", raw)
        key: DocKey = decode_storage_key(raw)
        docs.append(None if blob is None else decode_document(key, blob))
    return docs


def install_vectors(node: NodeState, directory: Path | None = None) -> None:
    """Load the node's vector indexes and keep them following committed writes.

    Args:
        node: The node.
        directory: Where indexes are saved and reused (see :class:`VectorCatalog`).
    """
    catalog = VectorCatalog(node.storage, directory)
    # Listening first means no write committed while an index fills is missed.
    node.storage.add_listener(catalog.on_commit)
    catalog.load()
    node.extensions["vectors"] = catalog
