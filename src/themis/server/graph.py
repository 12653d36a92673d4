"""The graph model: edge documents, their adjacency and named graphs.

Any document with string ``_from`` and ``_to`` is an edge. A write hook keeps two
adjacency entries per edge in the ``graph`` space, ``o␟{from}␟{edge _id}`` and
``i␟{to}␟{edge _id}``, inside the transaction that writes the edge, so adjacency is
exact whichever route wrote or deleted the document. Each entry holds the other end,
the edge's collection, ``_type`` and ``_weight``, so traversals read no edge documents.
Keys sort by edge ``_id``, which makes neighbour order deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from themis import _json
from themis.aql.source import GraphDefinition
from themis.server.documents import decode_document
from themis.server.errors import BadRequest, ServerError, Unavailable
from themis.server.keys import DocKey, decode_storage_key, parse_key
from themis.server.storage import MAX_KEY_BYTES
from themis.server.storage_ops import Delete, Op, Put, ReadView

if TYPE_CHECKING:
    from themis.server.state import NodeState

Direction = Literal["out", "in", "any"]
#: Directions as requests spell them, and as searches take them.
DIRECTIONS: dict[str, Direction] = {"outbound": "out", "inbound": "in", "any": "any"}
_WIRE_DIRECTIONS = {inner: wire for wire, inner in DIRECTIONS.items()}

MAX_DEPTH = 100
"""Deepest traversal a request may ask for."""

MAX_VISITED = 1_000_000
"""Most vertices one traversal or shortest-path search may touch."""

_SEP = "\x1f"
_GRAPH_DEF_PREFIX = b"graphdef\x1f"


@dataclass(frozen=True, slots=True)
class Adjacent:
    """One edge seen from one of its ends."""

    edge: str
    vertex: str
    collection: str
    type: str | None
    weight: float

    def wire(self) -> dict[str, Any]:
        """The form ``/graph/neighbors`` answers with."""
        return {
            "edge": self.edge,
            "vertex": self.vertex,
            "collection": self.collection,
            "_type": self.type,
            "_weight": self.weight,
        }

    @classmethod
    def from_wire(cls, item: Any) -> Adjacent:
        """Reads what another shard's ``/graph/neighbors`` answered.

        Raises:
            Unavailable: the item is not of that form.
        """
        try:
            edge, vertex, collection = item["edge"], item["vertex"], item["collection"]
            kind, weight = item["_type"], float(item["_weight"])
        except (KeyError, TypeError, ValueError) as exc:
            raise Unavailable(
                f"a shard answered /graph/neighbors with {item!r:.120}: {exc!r}"
            ) from None
        if not (isinstance(edge, str) and isinstance(vertex, str)):
            raise Unavailable(f"a shard answered /graph/neighbors with {item!r:.120}")
        return cls(edge, vertex, str(collection), kind, weight)


@dataclass(frozen=True, slots=True)
class EdgeFilter:
    """Which edges a search follows."""

    direction: Direction = "out"
    edge_type: str | None = None
    collection: str | None = None

    def wire(self) -> dict[str, Any]:
        """The fields of a ``/graph/*`` request that ask for this filter."""
        return {
            "direction": _WIRE_DIRECTIONS[self.direction],
            "edge_type": self.edge_type,
            "edge_collection": self.collection,
        }

    def admits(self, adjacent: Adjacent) -> bool:
        """Whether the search may follow this edge."""
        if self.edge_type is not None and adjacent.type != self.edge_type:
            return False
        return self.collection is None or self.collection == adjacent.collection


# --- adjacency maintenance -------------------------------------------------------


def adjacency_hook(view: ReadView, op: Op, old: bytes | None) -> Sequence[Op]:
    """Derive the adjacency changes of one document write (a `WriteHook`)."""
    if op.space != "docs":
        return ()
    new = op.value if isinstance(op, Put) else None
    if not _may_be_edge(new) and not _may_be_edge(old):
        return ()
    before = _adjacency_entries(op.key, old)
    after = _adjacency_entries(op.key, new)
    ops: list[Op] = [Delete("graph", key) for key in before if key not in after]
    ops += [Put("graph", key, value) for key, value in after.items()]
    return ops


def _adjacency_entries(storage_key: bytes, blob: bytes | None) -> dict[bytes, bytes]:
    edge = _edge_fields(blob)
    if edge is None:
        return {}
    source, target, edge_type, weight = edge
    key = decode_storage_key(storage_key)
    shared = {"c": key.collection, "t": edge_type, "w": weight}
    out_value = _json.dumps({"v": target, **shared})
    in_value = _json.dumps({"v": source, **shared})
    return {
        _adjacency_key("o", source, key.wire): out_value,
        _adjacency_key("i", target, key.wire): in_value,
    }


def _edge_fields(blob: bytes | None) -> tuple[str, str, str | None, float] | None:
    if not _may_be_edge(blob):
        return None
    assert blob is not None
    doc = _json.loads(blob)
    source, target = doc.get("_from"), doc.get("_to")
    if not (_is_vertex_id(source) and _is_vertex_id(target)):
        return None
    edge_type = doc.get("_type")
    if not isinstance(edge_type, str):
        edge_type = None
    return source, target, edge_type, _weight_of(doc.get("_weight"))


def _may_be_edge(blob: bytes | None) -> bool:
    # Most documents are not edges; a byte search spares decoding them. An escape
    # could spell a marker differently, so such texts are always decoded.
    if blob is None:
        return False
    return b"\\" in blob or (b'"_from"' in blob and b'"_to"' in blob)


def _is_vertex_id(value: Any) -> bool:
    # The separator would make one vertex's prefix match another's entries.
    return isinstance(value, str) and bool(value) and _SEP not in value


def _weight_of(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            return 1.0
        if math.isfinite(number):
            return number
    return 1.0


def _adjacency_key(side: str, vertex: str, edge_id: str) -> bytes:
    key = f"{side}{_SEP}{vertex}{_SEP}{edge_id}".encode()
    if len(key) > MAX_KEY_BYTES:
        raise BadRequest(
            f"cannot store edge {edge_id!r}: its vertex id and edge id must take at "
            f"most {MAX_KEY_BYTES - 4} bytes together, received {len(key) - 4} "
            f"bytes ({vertex[:40]!r}...)"
        )
    return key


def install_graph(node: NodeState) -> None:
    """Keep adjacency consistent with every later write; serve edges to AQL."""
    node.storage.add_hook(adjacency_hook)
    # A transaction's traversals see the edges it has written but not committed.
    node.transactions.derived.append(adjacency_hook)
    node.edge_reader = edges
    node.graph_reader = aql_graph


# --- reading adjacency ------------------------------------------------------------


def adjacent(view: ReadView, vertex: str, direction: Direction) -> Iterator[Adjacent]:
    """Edges at a vertex in edge ``_id`` order (out before in for the same id)."""
    if direction == "any":
        merged = [*adjacent(view, vertex, "out"), *adjacent(view, vertex, "in")]
        yield from sorted(merged, key=lambda item: item.edge)
        return
    prefix = _adjacency_key(direction[0], vertex, "")
    for raw, value in view.scan("graph", prefix):
        entry = _json.loads(value)
        yield Adjacent(
            edge=raw[len(prefix) :].decode(),
            vertex=entry["v"],
            collection=entry["c"],
            type=entry["t"],
            weight=entry["w"],
        )


def edges(
    view: ReadView, vertex_id: str, direction: str, collection: str | None = None
) -> Iterator[dict[str, Any]]:
    """Full edge documents at a vertex, for query data sources.

    Args:
        view: A read snapshot.
        vertex_id: The vertex ``_id``.
        direction: ``"out"`` for edges leaving the vertex, ``"in"`` for arriving ones.
        collection: Only edges of this collection (name without namespace).

    Yields:
        Edge documents with ``_id``, ``_key``, ``_from``, ``_to``, in ``_id`` order.
    """
    if direction not in ("out", "in"):
        raise BadRequest(f"expected direction 'out' or 'in', received {direction!r}")
    side: Direction = "out" if direction == "out" else "in"
    only = EdgeFilter(direction=side, collection=collection)
    for item in adjacent(view, vertex_id, side):
        if only.admits(item):
            doc = read_document(view, item.edge)
            if doc is not None:
                yield doc


def read_document(view: ReadView, doc_id: str) -> dict[str, Any] | None:
    """The decoded document with this ``_id``, or None when absent or not a key."""
    try:
        key = parse_key(doc_id)
    except ServerError:
        return None
    blob = view.get("docs", key.storage())
    return None if blob is None else decode_document(key, blob)


def vertex_stub(vertex_id: str) -> dict[str, Any]:
    """What stands for a vertex that has no document: its ``_id`` and ``_key``."""
    _, _, pk = vertex_id.partition(":")
    return {"_id": vertex_id, "_key": pk or vertex_id}


def edge_key(edge_id: str) -> DocKey:
    """The key of an edge given as ``_id`` or as a bare key of ``graph.default.edges``.

    Raises:
        BadRequest: the id is not a valid key.
    """
    if ":" in edge_id:
        return parse_key(edge_id)
    return parse_key(f"graph.default.edges:{edge_id}")


# --- named graphs -----------------------------------------------------------------


def graph_definition(view: ReadView, name: str) -> dict[str, Any] | None:
    """The stored definition ``{"name", "edge_definitions"}`` of a named graph."""
    raw = view.get("meta", _GRAPH_DEF_PREFIX + name.encode())
    return None if raw is None else dict(_json.loads(raw))


def graph_definitions(view: ReadView) -> list[dict[str, Any]]:
    """Every stored named graph definition, by name."""
    return [dict(_json.loads(raw)) for _, raw in view.scan("meta", _GRAPH_DEF_PREFIX)]


def aql_graph(view: ReadView, name: str) -> GraphDefinition | None:
    """A named graph as the AQL engine sees it: its edge collections in order."""
    definition = graph_definition(view, name)
    if definition is None:
        return None
    names = [item["collection"] for item in definition["edge_definitions"]]
    return GraphDefinition(name, tuple(dict.fromkeys(names)))


def graph_definition_op(definition: dict[str, Any]) -> Put:
    """The write that stores a named graph definition."""
    key = _GRAPH_DEF_PREFIX + str(definition["name"]).encode()
    return Put("meta", key, _json.dumps(definition))


def graph_definition_delete(name: str) -> Delete:
    """The write that removes a named graph definition."""
    return Delete("meta", _GRAPH_DEF_PREFIX + name.encode())
