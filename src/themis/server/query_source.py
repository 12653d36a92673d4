"""The AQL engine's view of one node: a namespace read through one LMDB snapshot."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from themis import _json
from themis.aql import Bound, GraphDefinition, IndexInfo
from themis.server.documents import decode_document, has_collection
from themis.server.errors import ServerError
from themis.server.indexes import (
    IndexCatalog,
    IndexDefinition,
    count_index,
    scan_index,
)
from themis.server.keys import collection_prefix, parse_key
from themis.server.storage_ops import ReadView
from themis.server.vector_index import VectorIndex
from themis.server.vector_spec import vector_of
from themis.server.vectors import VectorCatalog

EdgeReader = Callable[[ReadView, str, str, str | None], Iterator[dict[str, Any]]]
GraphReader = Callable[[ReadView, str], GraphDefinition | None]


class _IdMaker:
    """Adds ``_key``, ``_id`` and ``_urn`` to the documents of one collection.

    Scans are the hot path of queries; deriving the ids from the key tail with
    preformatted prefixes avoids building a `DocKey` per document.
    """

    def __init__(self, namespace: str, collection: str) -> None:
        self._plain = f"{collection}:"
        self._namespace = namespace
        self._collection = collection

    def stamp(self, doc: dict[str, Any], tail: bytes) -> None:
        pk, _, model = tail.decode().partition("\x1f")
        doc["_key"] = pk
        if model:
            doc["_id"] = f"{model}.{self._namespace}.{self._collection}:{pk}"
        else:
            doc["_id"] = self._plain + pk
        urn_model = model or "relational"
        doc["_urn"] = (
            f"urn:themis:{urn_model}:{self._namespace}:{self._collection}:{pk}"
        )


class SnapshotSource:
    """Implements the AQL `DataSource` protocol over a read snapshot.

    Args:
        view: The snapshot every read of the query goes through.
        namespace: The namespace collection names resolve in.
        catalog: The node's secondary indexes.
        edge_reader: Reads adjacent edges (provided by the graph model).
        graph_reader: Reads named graph definitions.
        use_indexes: False when ``view`` holds writes no index covers.
        vectors: The node's vector indexes, for similarity ranking.
    """

    def __init__(
        self,
        view: ReadView,
        namespace: str,
        catalog: IndexCatalog,
        edge_reader: EdgeReader | None = None,
        graph_reader: GraphReader | None = None,
        *,
        use_indexes: bool = True,
        vectors: VectorCatalog | None = None,
    ) -> None:
        self._use_indexes = use_indexes
        self._vectors = vectors if use_indexes else None
        self._view = view
        self._namespace = namespace
        self._catalog = catalog
        self._edge_reader = edge_reader
        self._graph_reader = graph_reader

    def has_collection(self, name: str) -> bool:
        if has_collection(self._view, self._namespace, name):
            return True
        # A transaction's own first write to a collection is not registered yet.
        prefix = collection_prefix(self._namespace, name)
        return next(iter(self._view.scan("docs", prefix)), None) is not None

    def scan(self, name: str) -> Iterator[dict[str, Any]]:
        return self.scan_containing(name, ())

    def scan_containing(
        self, name: str, needles: Sequence[bytes]
    ) -> Iterator[dict[str, Any]]:
        """Documents in ``_key`` order, skipping those whose text lacks a needle.

        The engine passes needles that every matching document's JSON text must
        contain; testing bytes is far cheaper than decoding the document. Texts with
        escapes are always decoded, since an escape can spell a needle differently.
        """
        prefix = collection_prefix(self._namespace, name)
        stored = self._view.scan("docs", prefix)
        return self._decoded(name, len(prefix), stored, needles)

    def _decoded(
        self,
        name: str,
        skip: int,
        stored: Iterable[tuple[bytes, bytes]],
        needles: Sequence[bytes],
    ) -> Iterator[dict[str, Any]]:
        """The documents of ``(storage key, text)`` pairs that hold every needle."""
        ids = _IdMaker(self._namespace, name)
        first = needles[0] if needles else b""
        rest = needles[1:]
        for raw, blob in stored:
            # The hot loop of queries: the cheapest test comes first.
            lacks = first not in blob or (rest and not all(n in blob for n in rest))
            if lacks and b"\\" not in blob:
                continue
            doc: dict[str, Any] = _json.loads(blob)
            ids.stamp(doc, raw[skip:])
            yield doc

    def document(self, doc_id: str) -> dict[str, Any] | None:
        try:
            key = parse_key(doc_id)
        except ServerError:
            return None
        blob = self._view.get("docs", key.storage())
        return None if blob is None else decode_document(key, blob)

    def documents(self, doc_ids: Sequence[str]) -> list[dict[str, Any] | None]:
        return [self.document(doc_id) for doc_id in doc_ids]

    def edges(
        self, vertex_id: str, direction: str, collection: str | None
    ) -> Iterator[dict[str, Any]]:
        if self._edge_reader is None:
            return iter(())
        return self._edge_reader(self._view, vertex_id, direction, collection)

    def _definition(self, name: str, field: tuple[str, ...]) -> IndexDefinition:
        return next(
            d
            for d in self._catalog.for_collection(self._namespace, name)
            if d.field == field
        )

    def indexes(self, name: str) -> Sequence[IndexInfo]:
        if not self._use_indexes:
            return ()
        return [
            IndexInfo(d.field, d.kind, d.unique)
            for d in self._catalog.for_collection(self._namespace, name)
        ]

    def index_scan(
        self,
        name: str,
        field: tuple[str, ...],
        low: Bound | None,
        high: Bound | None,
        descending: bool = False,
    ) -> Iterator[dict[str, Any]]:
        return self.index_scan_containing(name, field, low, high, (), descending)

    def index_scan_containing(
        self,
        name: str,
        field: tuple[str, ...],
        low: Bound | None,
        high: Bound | None,
        needles: Sequence[bytes],
        descending: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """:meth:`index_scan`, skipping documents whose text lacks a needle.

        An index read in the order of a SORT visits documents that other FILTER
        conditions reject; the needles let most of them go undecoded, as in
        :meth:`scan_containing`.
        """
        definition = self._definition(name, field)
        low_end = None if low is None else (low.value, low.inclusive)
        high_end = None if high is None else (high.value, high.inclusive)
        keys = scan_index(
            self._view, definition, low_end, high_end, descending=descending
        )
        get = self._view.get
        stored = ((raw, blob) for raw in keys if (blob := get("docs", raw)) is not None)
        skip = len(collection_prefix(self._namespace, name))
        return self._decoded(name, skip, stored, needles)

    def estimate(
        self,
        name: str,
        field: tuple[str, ...],
        low: Bound | None,
        high: Bound | None,
        cap: int,
    ) -> int:
        """How many index entries lie in a range, counting no further than ``cap``."""
        definition = self._definition(name, field)
        low_end = None if low is None else (low.value, low.inclusive)
        high_end = None if high is None else (high.value, high.inclusive)
        return count_index(self._view, definition, low_end, high_end, cap)

    def serves_nearest(self, name: str, path: tuple[str, ...], metric: str) -> bool:
        """Whether `nearest` can answer for this collection, field and metric."""
        return self._vector_index(name, path, metric) is not None

    def nearest(
        self,
        name: str,
        path: tuple[str, ...],
        vector: Any,
        metric: str,
        k: int,
    ) -> list[dict[str, Any]] | None:
        """The `k` documents whose vector at `path` is nearest `vector`, best first.

        Answers like ``/vector/search``: exactly below the index's HNSW threshold,
        approximately above it. Documents come from this snapshot, so an indexed
        document the snapshot does not hold is left out.

        Returns:
            The documents, or None when no vector index on exactly `path` with
            `metric` applies or `vector` is not a vector that index can search.
        """
        index = self._vector_index(name, path, metric)
        if index is None:
            return None
        values = vector_of(vector, index.spec.dimension)
        row = None if isinstance(values, str) else index.prepare(values)
        if row is None:
            return None
        ids = _IdMaker(self._namespace, name)
        skip = len(collection_prefix(self._namespace, name))
        docs = []
        for hit in index.search(row, k):
            blob = self._view.get("docs", hit.key)
            if blob is not None:
                doc: dict[str, Any] = _json.loads(blob)
                ids.stamp(doc, hit.key[skip:])
                docs.append(doc)
        return docs

    def _vector_index(
        self, name: str, path: tuple[str, ...], metric: str
    ) -> VectorIndex | None:
        # Without indexes (a transaction's own writes) there is no vector catalog.
        vectors = self._vectors
        index = None if vectors is None else vectors.get(self._namespace, name)
        if index is None or path != (index.spec.field,):
            return None
        return index if index.spec.metric == metric else None

    def graph(self, name: str) -> GraphDefinition | None:
        if self._graph_reader is None:
            return None
        return self._graph_reader(self._view, name)
