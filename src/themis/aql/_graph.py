"""Edge access shared by traversals and shortest paths."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from themis.aql._context import Context, Evaluator, Frame
from themis.aql._values import to_number, typename
from themis.aql.errors import AqlExecutionError

Edge = dict[str, Any]


@dataclass(frozen=True, slots=True)
class EdgeSource:
    """Where a graph statement finds its edges.

    Attributes:
        direction: ``OUTBOUND``, ``INBOUND`` or ``ANY``.
        collections: Edge collection names (``"@x"`` for ``@@x``).
        graph: Evaluates the graph name for ``GRAPH "name"``, else None.
    """

    direction: str
    collections: tuple[str, ...]
    graph: Evaluator | None

    def resolve(self, frame: Frame, ctx: Context) -> Neighbours:
        """Return the neighbour function for one execution."""
        names = [ctx.binds[n] if n.startswith("@") else n for n in self.collections]
        if self.graph is not None:
            name = self.graph(frame, ctx)
            definition = ctx.source.graph(name) if isinstance(name, str) else None
            if definition is None:
                raise AqlExecutionError(f"graph {name!r} not found")
            names = list(definition.edge_collections)
        for name in names:
            if not isinstance(name, str) or not ctx.source.has_collection(name):
                raise AqlExecutionError(f"collection or view not found: '{name}'")
        return Neighbours(self.direction, tuple(names), ctx)


class Neighbours:
    """Yield (edge, neighbour _id) pairs of a vertex, in a stable order."""

    __slots__ = ("_collections", "_ctx", "_ends")

    def __init__(self, direction: str, collections: tuple[str, ...], ctx: Context):
        ends = {"OUTBOUND": ("out",), "INBOUND": ("in",), "ANY": ("out", "in")}
        self._ends = ends[direction]
        self._collections = collections
        self._ctx = ctx

    def __call__(self, vertex: str) -> Iterator[tuple[Edge, str]]:
        source = self._ctx.source
        for collection in self._collections:
            for end in self._ends:
                other = "_to" if end == "out" else "_from"
                for edge in source.edges(vertex, end, collection):  # type: ignore[arg-type]
                    self._ctx.tick()
                    yield edge, str(edge.get(other))


def start_id(value: Any, role: str = "start vertex") -> str:
    """Return the ``_id`` named by a string or a document."""
    if isinstance(value, dict):
        value = value.get("_id")
    if not isinstance(value, str):
        raise AqlExecutionError(
            f"{role} must be a document _id string or a document, "
            f"got a value of type {typename(value)}"
        )
    return value


def weigher(options: dict[str, Any]) -> Any:
    """Return the edge-weight function configured by OPTIONS."""
    attribute = options.get("weightAttribute")
    default = to_number(options.get("defaultWeight", 1))
    if not attribute:
        return lambda edge: 1

    def weight(edge: Edge) -> float | int:
        value = edge.get(attribute)
        number = to_number(value) if type(value) in (int, float) else default
        if number < 0:
            raise AqlExecutionError(
                f"negative edge weight {number!r} on {edge.get('_id')!r}"
            )
        return number

    return weight


def cheapest(
    start: str,
    target: str,
    neighbours: Neighbours,
    weight: Any,
    banned_vertices: Sequence[str] = (),
    banned_edges: Sequence[str] = (),
) -> tuple[float, list[str], list[Edge]] | None:
    """Dijkstra from `start` to `target`; ties go to the first edge found."""
    counter = itertools.count()
    queue: list[tuple[float, int, str]] = [(0, next(counter), start)]
    best: dict[str, float] = {start: 0}
    parent: dict[str, tuple[str, Edge]] = {}
    done: set[str] = set(banned_vertices)
    while queue:
        cost, _, vertex = heapq.heappop(queue)
        if vertex in done:
            continue
        if vertex == target:
            return cost, *_unwind(parent, start, target)
        done.add(vertex)
        for edge, other in neighbours(vertex):
            if other in done or edge.get("_id") in banned_edges:
                continue
            total = cost + weight(edge)
            if total < best.get(other, float("inf")):
                best[other] = total
                parent[other] = (vertex, edge)
                heapq.heappush(queue, (total, next(counter), other))
    return None


def _unwind(
    parent: dict[str, tuple[str, Edge]], start: str, target: str
) -> tuple[list[str], list[Edge]]:
    vertices, edges = [target], []
    while vertices[-1] != start:
        previous, edge = parent[vertices[-1]]
        vertices.append(previous)
        edges.append(edge)
    return vertices[::-1], edges[::-1]
