"""Graph searches on one node: traversals and shortest paths over the adjacency."""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from themis._core.traversal import edge_weight
from themis.server.errors import BadRequest
from themis.server.graph import (
    MAX_VISITED,
    Adjacent,
    EdgeFilter,
    adjacent,
    read_document,
)
from themis.server.storage_ops import ReadView

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
    view: ReadView,
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
        order = list(_depth_first(view, start, max_depth, only, result))
    else:
        order = _breadth_first(view, start, max_depth, only, result)
    for vertex in order:
        if result.depths[vertex] >= min_depth:
            result.visited.append(vertex)
            if limit is not None and len(result.visited) >= limit:
                break
    return result


def _breadth_first(
    view: ReadView, start: str, max_depth: int, only: EdgeFilter, result: Traversal
) -> Iterator[str]:
    budget = _Budget()
    result.depths[start] = 0
    yield start
    queue = deque([start])
    while queue:
        vertex = queue.popleft()
        depth = result.depths[vertex]
        if depth >= max_depth:
            continue
        for item in adjacent(view, vertex, only.direction):
            if item.vertex in result.depths or not only.admits(item):
                continue
            budget.spend()
            result.depths[item.vertex] = depth + 1
            result.parents[item.vertex] = (item.edge, vertex)
            queue.append(item.vertex)
            yield item.vertex


def _depth_first(
    view: ReadView, start: str, max_depth: int, only: EdgeFilter, result: Traversal
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
            followed = list(adjacent(view, vertex, only.direction))
            for item in reversed(followed):
                if only.admits(item):
                    stack.append((item.vertex, depth + 1, (item.edge, vertex)))


# --- shortest path ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Path:
    """A shortest path: its vertices, edge ids and total weight."""

    vertices: list[str]
    edges: list[str]
    distance: float


def shortest_path(
    view: ReadView,
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
    while heap:
        cost, _, vertex = heapq.heappop(heap)
        if vertex in done:
            continue
        if vertex == target:
            return _build_path(start, target, cost, parents)
        done.add(vertex)
        budget.spend()
        for item in adjacent(view, vertex, only.direction):
            if not only.admits(item) or item.vertex in done:
                continue
            step = _edge_cost(view, item, weight_attribute)
            if cost + step < best.get(item.vertex, math.inf):
                best[item.vertex] = cost + step
                parents[item.vertex] = (item.edge, vertex)
                pushed += 1
                heapq.heappush(heap, (cost + step, pushed, item.vertex))
    return None


def _edge_cost(view: ReadView, item: Adjacent, attribute: str | None) -> float:
    if attribute is None:
        return 1.0
    if attribute == "_weight":
        value: Any = item.weight
    else:
        doc = read_document(view, item.edge) or {}
        value = doc.get(attribute, 1)
    try:
        return edge_weight(value, attribute, item.edge)
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
