"""The narrow data-access protocol the AQL engine runs against."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = ["Bound", "DataSource", "GraphDefinition", "IndexInfo"]

Direction = Literal["out", "in"]


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """A secondary index on one (possibly nested) attribute path.

    Attributes:
        field: The attribute path, e.g. ``("address", "city")``.
        kind: ``"hash"`` serves equality only; ``"range"`` also serves ranges and
            ordered reads.
        unique: Whether the index rejects duplicate values.
    """

    field: tuple[str, ...]
    kind: Literal["hash", "range"]
    unique: bool = False


@dataclass(frozen=True, slots=True)
class Bound:
    """One end of an index range; values compare in AQL order.

    Attributes:
        value: The bounding value.
        inclusive: Whether documents equal to `value` are inside the range.
    """

    value: Any
    inclusive: bool = True


@dataclass(frozen=True, slots=True)
class GraphDefinition:
    """A named graph: the edge collections a ``GRAPH "name"`` traversal follows.

    Attributes:
        name: The graph name.
        edge_collections: Edge collections in the graph, in declaration order.
    """

    name: str
    edge_collections: tuple[str, ...]


class DataSource(Protocol):
    """Read access to collections, indexes and graphs.

    Documents always carry ``_key``, ``_id`` and ``_urn``. A document missing the
    indexed attribute is indexed as ``null``, so index ranges agree with AQL
    comparisons, where ``null`` is the smallest value.
    """

    def has_collection(self, name: str) -> bool:
        """Return whether collection `name` exists."""
        ...

    def scan(self, name: str) -> Iterator[dict[str, Any]]:
        """Yield every document of collection `name` in ``_key`` order."""
        ...

    def document(self, doc_id: str) -> dict[str, Any] | None:
        """Return the document whose ``_id`` is `doc_id`, or None."""
        ...

    def documents(self, doc_ids: Sequence[str]) -> list[dict[str, Any] | None]:
        """Return the documents whose ``_id`` values are `doc_ids`, in order.

        A sharded source reads each shard's documents in one request.
        """
        ...

    def edges(
        self, vertex_id: str, direction: Direction, collection: str | None
    ) -> Iterator[dict[str, Any]]:
        """Yield edges leaving (``"out"``) or entering (``"in"``) a vertex.

        Args:
            vertex_id: The ``_id`` of the vertex.
            direction: ``"out"`` matches ``_from``, ``"in"`` matches ``_to``.
            collection: Only edges of this collection; None means every edge
                collection.
        """
        ...

    def indexes(self, name: str) -> Sequence[IndexInfo]:
        """Return the secondary indexes of collection `name`."""
        ...

    def index_scan(
        self,
        name: str,
        field: tuple[str, ...],
        low: Bound | None,
        high: Bound | None,
        descending: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Yield documents whose `field` lies between `low` and `high`.

        Documents come ordered by (field value in AQL order, ``_key``), reversed
        entirely when `descending`. A missing bound is open; equality is
        ``low == high``, both inclusive.
        """
        ...

    def graph(self, name: str) -> GraphDefinition | None:
        """Return the named graph `name`, or None when it does not exist."""
        ...
