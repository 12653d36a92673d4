"""An in-memory `DataSource` for tests and embedding."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from themis.aql._values import sort_key
from themis.aql.source import Bound, Direction, GraphDefinition, IndexInfo

__all__ = ["MemorySource"]

_Entry = tuple[tuple[Any, ...], str]


class MemorySource:
    """Collections of documents held in dictionaries, with computed indexes.

    Documents get ``_key``, ``_id`` (``collection:key``) and ``_urn`` when they
    lack them. Indexes are sorted lists of (AQL sort key, ``_key``) pairs.

    Args:
        collections: Collection name to its documents; each needs ``_key``.
        graphs: Graph name to its edge collections.
    """

    def __init__(
        self,
        collections: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
        graphs: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._docs: dict[str, dict[str, dict[str, Any]]] = {}
        self._ids: dict[str, dict[str, Any]] = {}
        self._indexes: dict[str, dict[tuple[str, ...], IndexInfo]] = {}
        self._entries: dict[tuple[str, tuple[str, ...]], list[_Entry]] = {}
        self._graphs = {
            name: GraphDefinition(name, tuple(edges))
            for name, edges in (graphs or {}).items()
        }
        for name, docs in (collections or {}).items():
            self.add_collection(name, docs)

    def add_collection(self, name: str, docs: Iterable[Mapping[str, Any]]) -> None:
        """Create or replace collection `name` holding `docs`."""
        stored: dict[str, dict[str, Any]] = {}
        for doc in docs:
            full = dict(doc)
            key = str(full["_key"])
            full["_key"] = key
            full.setdefault("_id", f"{name}:{key}")
            full.setdefault("_urn", f"urn:themis:relational:default:{name}:{key}")
            stored[key] = full
        self._docs[name] = dict(sorted(stored.items()))
        self._ids.update((doc["_id"], doc) for doc in stored.values())
        for info in self._indexes.get(name, {}).values():
            self._build(name, info.field)

    def add_index(
        self,
        name: str,
        field: tuple[str, ...],
        kind: Literal["hash", "range"] = "range",
        unique: bool = False,
    ) -> None:
        """Declare a secondary index on `field` of collection `name`."""
        self._indexes.setdefault(name, {})[field] = IndexInfo(field, kind, unique)
        self._build(name, field)

    def add_graph(self, name: str, edge_collections: Sequence[str]) -> None:
        """Declare named graph `name` over `edge_collections`."""
        self._graphs[name] = GraphDefinition(name, tuple(edge_collections))

    def has_collection(self, name: str) -> bool:
        """Return whether collection `name` exists."""
        return name in self._docs

    def scan(self, name: str) -> Iterator[dict[str, Any]]:
        """Yield the documents of `name` in ``_key`` order."""
        return iter(self._docs.get(name, {}).values())

    def document(self, doc_id: str) -> dict[str, Any] | None:
        """Return the document with ``_id`` `doc_id`, or None."""
        return self._ids.get(doc_id)

    def documents(self, doc_ids: Sequence[str]) -> list[dict[str, Any] | None]:
        """Return the documents with the ``_id`` values `doc_ids`, None where absent."""
        return [self._ids.get(doc_id) for doc_id in doc_ids]

    def edges(
        self, vertex_id: str, direction: Direction, collection: str | None
    ) -> Iterator[dict[str, Any]]:
        """Yield the edges touching `vertex_id` in `direction`."""
        end = "_from" if direction == "out" else "_to"
        names = [collection] if collection is not None else list(self._docs)
        for name in names:
            for doc in self._docs.get(name, {}).values():
                if doc.get(end) == vertex_id:
                    yield doc

    def indexes(self, name: str) -> Sequence[IndexInfo]:
        """Return the indexes declared on `name`."""
        return tuple(self._indexes.get(name, {}).values())

    def index_scan(
        self,
        name: str,
        field: tuple[str, ...],
        low: Bound | None,
        high: Bound | None,
        descending: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Yield documents of `name` whose `field` lies in the given range."""
        entries = self._entries[(name, field)]
        start = 0 if low is None else _position(entries, low, after=not low.inclusive)
        stop = len(entries)
        if high is not None:
            stop = _position(entries, high, after=high.inclusive)
        chosen = entries[start:stop]
        if descending:
            chosen.reverse()
        docs = self._docs[name]
        return (docs[key] for _, key in chosen)

    def graph(self, name: str) -> GraphDefinition | None:
        """Return the named graph, or None."""
        return self._graphs.get(name)

    def _build(self, name: str, field: tuple[str, ...]) -> None:
        docs = self._docs.get(name, {})
        entries = [(sort_key(_lookup(doc, field)), key) for key, doc in docs.items()]
        entries.sort()
        self._entries[(name, field)] = entries


def _lookup(doc: Mapping[str, Any], field: tuple[str, ...]) -> Any:
    value: Any = doc
    for part in field:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _position(entries: list[_Entry], bound: Bound, *, after: bool) -> int:
    """Return the first index past (`after`) or at the bound's value."""
    key = sort_key(bound.value)
    if after:
        return bisect.bisect_right(entries, key, key=lambda entry: entry[0])
    return bisect.bisect_left(entries, key, key=lambda entry: entry[0])
