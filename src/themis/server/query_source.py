"""The AQL engine's view of one node: a namespace read through one LMDB snapshot."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from themis.aql import Bound, GraphDefinition, IndexInfo
from themis.server.documents import decode_document, has_collection, scan_collection
from themis.server.errors import ServerError
from themis.server.indexes import IndexCatalog, scan_index
from themis.server.keys import decode_storage_key, parse_key
from themis.server.storage import ReadView

EdgeReader = Callable[[ReadView, str, str, str | None], Iterator[dict[str, Any]]]
GraphReader = Callable[[ReadView, str], GraphDefinition | None]


class SnapshotSource:
    """Implements the AQL `DataSource` protocol over a read snapshot.

    Args:
        view: The snapshot every read of the query goes through.
        namespace: The namespace collection names resolve in.
        catalog: The node's secondary indexes.
        edge_reader: Reads adjacent edges (provided by the graph model).
        graph_reader: Reads named graph definitions.
    """

    def __init__(
        self,
        view: ReadView,
        namespace: str,
        catalog: IndexCatalog,
        edge_reader: EdgeReader | None = None,
        graph_reader: GraphReader | None = None,
    ) -> None:
        self._view = view
        self._namespace = namespace
        self._catalog = catalog
        self._edge_reader = edge_reader
        self._graph_reader = graph_reader

    def has_collection(self, name: str) -> bool:
        return has_collection(self._view, self._namespace, name)

    def scan(self, name: str) -> Iterator[dict[str, Any]]:
        for key, blob in scan_collection(self._view, self._namespace, name):
            yield decode_document(key, blob)

    def document(self, doc_id: str) -> dict[str, Any] | None:
        try:
            key = parse_key(doc_id)
        except ServerError:
            return None
        blob = self._view.get("docs", key.storage())
        return None if blob is None else decode_document(key, blob)

    def edges(
        self, vertex_id: str, direction: str, collection: str | None
    ) -> Iterator[dict[str, Any]]:
        if self._edge_reader is None:
            return iter(())
        return self._edge_reader(self._view, vertex_id, direction, collection)

    def indexes(self, name: str) -> Sequence[IndexInfo]:
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
        definition = next(
            d
            for d in self._catalog.for_collection(self._namespace, name)
            if d.field == field
        )
        low_end = None if low is None else (low.value, low.inclusive)
        high_end = None if high is None else (high.value, high.inclusive)
        for raw in scan_index(
            self._view, definition, low_end, high_end, descending=descending
        ):
            blob = self._view.get("docs", raw)
            if blob is not None:
                yield decode_document(decode_storage_key(raw), blob)

    def graph(self, name: str) -> GraphDefinition | None:
        if self._graph_reader is None:
            return None
        return self._graph_reader(self._view, name)
