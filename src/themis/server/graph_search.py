"""Graph searches: traversals and shortest paths over what a `GraphReach` reads.

The same searches run over one shard's adjacency or, on a cluster, over every
shard's (`graph_reach`). Breadth-first search asks for the edges of a whole depth at
once, so a cluster answers each depth in one request per shard.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from themis._core.traversal import edge_weight
from themis.server.errors import BadRequest
from themis.server.graph import MAX_VISITED, Adjacent, EdgeFilter
from themis.server.graph_reach import GraphReach

# --- traversal --------------------------------------------------------------------


@dataclass
class Traversal:
    """The outcome of a traversal: visit order, depths and discovering edges."""

    visited: list[str] = field(default_factory=list)
    depths: dict[str, int] = field(default_factory=dict)
    parents: dict[str, tuple[str, str]] = field(default_factory=dict)

    def path_to(self, vertex: str) -> tuple[list[str], list[str]]:
        """Vertices and edge ids from the start to ``vertex``."""
        vertices, edge_ids = [vertex], []
        while vertex in self.parents:
            edge_id, vertex = self.parents[vertex]
            edge_ids.append(edge_id)
            vertices.append(vertex)
        return vertices[::-1], edge_ids[::-1]


class _Budget:
    """Counts touched vertices and stops a search past `MAX_VISITED`."""

    def __init__(self, limit: int = MAX_VISITED) -> None:
        self.limit = limit
        self.used = 0

    def spend(self) -> None:
        self.used += 1
        if self.used > self.limit:
            raise BadRequest(
                f"the search touched more than {self.limit} vertices; lower "
                "'max_depth', filter by 'edge_type' or set 'limit'"
            )


def traverse(
    reach: GraphReach,
    start: str,
    *,
    min_depth: int,
    max_depth: int,
    only: EdgeFilter,
    depth_first: bool = False,
    limit: int | None = None,
) -> Traversal:
    """Visit each vertex reachable within ``max_depth`` once.

    Breadth-first search reports each vertex at its shortest depth. Depth-first search
    emits vertices in preorder and re-expands a vertex reached again by a shorter
    path, so it reaches the same vertices at the same depths.

    Raises:
        BadRequest: the search exceeds `MAX_VISITED`.
    """
    result = Traversal()
    order: Iterable[str]
    if depth_first:
        # A later, shorter path can still lower a depth; filter once all are final.
        order = list(_depth_first(reach, start, max_depth, only, result))
    else:
        order = _breadth_first(reach, start, max_depth, only, result)
    for vertex in order:
        if result.depths[vertex] >= min_depth:
            result.visited.append(vertex)
            if limit is not None and len(result.visited) >= limit:
                break
    return result


def _breadth_first(
    reach: GraphReach, start: str, max_depth: int, only: EdgeFilter, result: Traversal
) -> Iterator[str]:
    budget = _Budget()
    result.depths[start] = 0
    yield start
    frontier = [start]
    for depth in range(1, max_depth + 1):
        following: list[str] = []
        for vertex, items in zip(frontier, reach.around(frontier, only), strict=True):
            for item in items:
                if item.vertex in result.depths:
                    continue
                budget.spend()
                result.depths[item.vertex] = depth
                result.parents[item.vertex] = (item.edge, vertex)
                following.append(item.vertex)
                yield item.vertex
        if not following:
            return
        frontier = following


def _depth_first(
    reach: GraphReach, start: str, max_depth: int, only: EdgeFilter, result: Traversal
) -> Iterator[str]:
    budget = _Budget()
    stack: list[tuple[str, int, tuple[str, str] | None]] = [(start, 0, None)]
    while stack:
        vertex, depth, parent = stack.pop()
        known = result.depths.get(vertex)
        if known is not None and known <= depth:
            continue
        budget.spend()
        result.depths[vertex] = depth
        if parent is not None:
            result.parents[vertex] = parent
        if known is None:
            yield vertex
        if depth < max_depth:
            [followed] = reach.around([vertex], only)
            for item in reversed(followed):
                stack.append((item.vertex, depth + 1, (item.edge, vertex)))


# --- shortest path ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Path:
    """A shortest path: its vertices, edge ids and total weight."""

    vertices: list[str]
    edges: list[str]
    distance: float


def shortest_path(
    reach: GraphReach,
    start: str,
    target: str,
    *,
    only: EdgeFilter,
    weight_attribute: str | None = None,
) -> Path | None:
    """The cheapest path from ``start`` to ``target``, or None when unreachable.

    Without ``weight_attribute`` every edge costs 1 (breadth-first search); with it,
    Dijkstra's algorithm reads the attribute from each edge (1 when absent).

    Raises:
        BadRequest: a weight is negative or not a number, or the search is too large.
    """
    budget = _Budget()
    best: dict[str, float] = {start: 0.0}
    parents: dict[str, tuple[str, str]] = {}
    heap: list[tuple[float, int, str]] = [(0.0, 0, start)]
    pushed = 0
    done: set[str] = set()
    edges = _EdgesAhead(reach, only, weight_attribute)
    while heap:
        cost, _, vertex = heapq.heappop(heap)
        if vertex in done:
            continue
        if vertex == target:
            return _build_path(start, target, cost, parents)
        done.add(vertex)
        budget.spend()
        for item, step in edges.at(vertex, heap, done):
            if cost + step < best.get(item.vertex, math.inf):
                best[item.vertex] = cost + step
                parents[item.vertex] = (item.edge, vertex)
                pushed += 1
                heapq.heappush(heap, (cost + step, pushed, item.vertex))
    return None


class _EdgesAhead:
    """The edges a shortest-path search follows from each vertex it settles, with
    their costs.

    Where each read is a round trip (`GraphReach.read_ahead`), the edges of the
    cheapest queued vertices come along with those of the vertex settled, so that
    most later vertices need no request of their own; so do the edge documents a
    weight attribute is read from. A weight is checked only when its edge is
    followed, as when nothing is read ahead.
    """

    def __init__(
        self, reach: GraphReach, only: EdgeFilter, attribute: str | None
    ) -> None:
        self._reach = reach
        self._only = only
        self._attribute = attribute
        self._known: dict[str, list[Adjacent]] = {}
        self._values: dict[str, Any] = {}

    def at(
        self, vertex: str, heap: list[tuple[float, int, str]], done: set[str]
    ) -> list[tuple[Adjacent, float]]:
        """The edges from ``vertex`` to vertices not settled yet, with their costs."""
        if vertex not in self._known:
            self._read(vertex, heap, done)
        followed = [i for i in self._known.pop(vertex) if i.vertex not in done]
        return [(item, self._cost(item)) for item in followed]

    def _read(
        self, vertex: str, heap: list[tuple[float, int, str]], done: set[str]
    ) -> None:
        ahead = self._reach.read_ahead
        queued = [v for _, _, v in heapq.nsmallest(ahead, heap)] if ahead else []
        # The settled vertex itself is in ``done`` already.
        later = (v for v in queued if v not in done and v not in self._known)
        wanted = list(dict.fromkeys((vertex, *later)))
        items = self._reach.around(wanted, self._only)
        self._known.update(zip(wanted, items, strict=True))
        if self._attribute not in (None, "_weight"):
            ids = [item.edge for found in items for item in found]
            docs = self._reach.documents(ids)
            for edge_id, doc in zip(ids, docs, strict=True):
                self._values[edge_id] = (doc or {}).get(self._attribute, 1)

    def _cost(self, item: Adjacent) -> float:
        if self._attribute is None:
            return 1.0
        if self._attribute == "_weight":
            value: Any = item.weight
        else:
            value = self._values.get(item.edge, 1)
        try:
            return edge_weight(value, self._attribute, item.edge)
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc


def _build_path(
    start: str, target: str, cost: float, parents: dict[str, tuple[str, str]]
) -> Path:
    vertices, edge_ids = [target], []
    vertex = target
    while vertex != start:
        edge_id, vertex = parents[vertex]
        edge_ids.append(edge_id)
        vertices.append(vertex)
    return Path(vertices[::-1], edge_ids[::-1], cost)
