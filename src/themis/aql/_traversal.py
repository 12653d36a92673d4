"""Graph statements: traversals, SHORTEST_PATH and K_SHORTEST_PATHS."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from themis.aql._context import Context, Evaluator, Frame
from themis.aql._graph import Edge, EdgeSource, Neighbours, cheapest, start_id, weigher
from themis.aql._values import to_number, truthy
from themis.aql.errors import AqlExecutionError

_UNIQUE_VERTICES = ("none", "path", "global")
_UNIQUE_EDGES = ("none", "path")


@dataclass(slots=True)
class _Step:
    """One path of a traversal: vertex ids, vertex documents and edges so far."""

    ids: tuple[str, ...]
    vertices: tuple[Any, ...]
    edges: tuple[Edge, ...]

    def extend(self, edge: Edge, vertex: str, doc: Any) -> _Step:
        return _Step((*self.ids, vertex), (*self.vertices, doc), (*self.edges, edge))

    def output(self, width: int) -> tuple[Any, ...]:
        last_edge = self.edges[-1] if self.edges else None
        if width == 1:
            return (self.vertices[-1],)
        if width == 2:
            return (self.vertices[-1], last_edge)
        path = {"edges": list(self.edges), "vertices": list(self.vertices)}
        return (self.vertices[-1], last_edge, path)


def _options(options: Evaluator | None, frame: Frame, ctx: Context) -> dict[str, Any]:
    value = options(frame, ctx) if options is not None else {}
    if not isinstance(value, dict):
        raise AqlExecutionError("OPTIONS must be an object")
    return value


@dataclass(slots=True)
class Traversal:
    """``FOR v[, e[, p]] IN min..max DIRECTION start edges [PRUNE c] [OPTIONS o]``.

    Depth-first by default (``bfs: true`` for breadth-first); edges are unique
    per path, vertices are not, as in ArangoDB.
    """

    width: int
    depth: tuple[Evaluator, Evaluator] | None
    start: Evaluator
    edges: EdgeSource
    prune: Evaluator | None
    options: Evaluator | None

    def run(self, rows: Iterator[Frame], ctx: Context) -> Iterator[Frame]:
        for frame in rows:
            for step in self._walk(frame, ctx):
                yield (*frame, *step.output(self.width))

    def _walk(self, frame: Frame, ctx: Context) -> Iterator[_Step]:
        low, high = self._depth(frame, ctx)
        options = _options(self.options, frame, ctx)
        unique_vertices = options.get("uniqueVertices", "none")
        unique_edges = options.get("uniqueEdges", "path")
        if unique_vertices not in _UNIQUE_VERTICES or unique_edges not in _UNIQUE_EDGES:
            raise AqlExecutionError(
                "OPTIONS uniqueVertices must be 'none', 'path' or 'global' and "
                "uniqueEdges 'none' or 'path'"
            )
        origin = start_id(self.start(frame, ctx))
        document = ctx.source.document(origin)
        if document is None:
            return
        neighbours = self.edges.resolve(frame, ctx)
        seen = {origin}
        pending: deque[tuple[_Step, int]] = deque(
            [(_Step((origin,), (document,), ()), 0)]
        )
        breadth = truthy(options.get("bfs")) or options.get("order") == "bfs"
        while pending:
            step, depth = pending.popleft() if breadth else pending.pop()
            if depth >= low:
                yield step
            if depth >= high or self._pruned(step, frame, ctx):
                continue
            taken = []
            for edge, other in neighbours(step.ids[-1]):
                if unique_edges == "path" and _repeats(step.edges, edge):
                    continue
                if unique_vertices == "path" and other in step.ids:
                    continue
                if unique_vertices == "global":
                    if other in seen:
                        continue
                    seen.add(other)
                taken.append((edge, other))
            # One read for all of a vertex's neighbours: one request per shard.
            docs = ctx.source.documents([other for _, other in taken])
            children = [
                (step.extend(edge, other, doc), depth + 1)
                for (edge, other), doc in zip(taken, docs, strict=True)
            ]
            pending.extend(children if breadth else reversed(children))

    def _depth(self, frame: Frame, ctx: Context) -> tuple[int, int]:
        if self.depth is None:
            return 1, 1
        low, high = (int(to_number(d(frame, ctx))) for d in self.depth)
        if low < 0 or high < low:
            raise AqlExecutionError(f"invalid traversal depth {low}..{high}")
        return low, high

    def _pruned(self, step: _Step, frame: Frame, ctx: Context) -> bool:
        if self.prune is None:
            return False
        return truthy(self.prune((*frame, *step.output(self.width)), ctx))

    def describe(self, ctx: Context) -> dict[str, Any]:
        return {"type": "Traversal", "direction": self.edges.direction}


@dataclass(slots=True)
class ShortestPath:
    """``FOR v[, e] IN DIRECTION SHORTEST_PATH start TO target edges``."""

    width: int
    start: Evaluator
    target: Evaluator
    edges: EdgeSource
    options: Evaluator | None

    def run(self, rows: Iterator[Frame], ctx: Context) -> Iterator[Frame]:
        for frame in rows:
            found = self._search(frame, ctx)
            if found is None:
                continue
            vertices, edges = found
            docs = ctx.source.documents(vertices)
            for position, doc in enumerate(docs):
                edge = edges[position - 1] if position else None
                yield (*frame, doc, edge)[: len(frame) + self.width]

    def _search(
        self, frame: Frame, ctx: Context
    ) -> tuple[list[str], list[Edge]] | None:
        origin, target, neighbours, weight = _path_search(self, frame, ctx)
        if ctx.source.document(origin) is None:
            return None
        found = cheapest(origin, target, neighbours, weight)
        return None if found is None else (found[1], found[2])

    def describe(self, ctx: Context) -> dict[str, Any]:
        return {"type": "ShortestPath", "direction": self.edges.direction}


@dataclass(slots=True)
class KShortestPaths:
    """``FOR p IN DIRECTION K_SHORTEST_PATHS start TO target edges`` (Yen)."""

    start: Evaluator
    target: Evaluator
    edges: EdgeSource
    options: Evaluator | None

    def run(self, rows: Iterator[Frame], ctx: Context) -> Iterator[Frame]:
        for frame in rows:
            origin, target, neighbours, weight = _path_search(self, frame, ctx)
            for cost, vertices, edges in _yen(origin, target, neighbours, weight):
                docs = ctx.source.documents(vertices)
                yield (*frame, {"edges": edges, "vertices": docs, "weight": cost})

    def describe(self, ctx: Context) -> dict[str, Any]:
        return {"type": "KShortestPaths", "direction": self.edges.direction}


def _path_search(
    node: ShortestPath | KShortestPaths, frame: Frame, ctx: Context
) -> tuple[str, str, Neighbours, Any]:
    """Resolve the endpoints, edges and weighing of a path search for one row."""
    origin = start_id(node.start(frame, ctx))
    target = start_id(node.target(frame, ctx), "target vertex")
    neighbours = node.edges.resolve(frame, ctx)
    return origin, target, neighbours, weigher(_options(node.options, frame, ctx))


def _repeats(edges: tuple[Edge, ...], edge: Edge) -> bool:
    edge_id = edge.get("_id")
    return any(e is edge or e.get("_id") == edge_id for e in edges)


def _yen(
    origin: str, target: str, neighbours: Neighbours, weight: Any
) -> Iterator[tuple[float, list[str], list[Edge]]]:
    first = cheapest(origin, target, neighbours, weight)
    if first is None:
        return
    accepted = [first]
    candidates: list[tuple[float, list[str], list[Edge]]] = []
    yield first
    while True:
        _, vertices, edges = accepted[-1]
        for index in range(len(vertices) - 1):
            root_ids, root_edges = vertices[: index + 1], edges[:index]
            banned_edges = [
                path_edges[index]["_id"]
                for _, path_vertices, path_edges in accepted
                if path_vertices[: index + 1] == root_ids and len(path_edges) > index
            ]
            spur = cheapest(
                root_ids[-1], target, neighbours, weight, root_ids[:-1], banned_edges
            )
            if spur is None:
                continue
            cost = sum(weight(e) for e in root_edges) + spur[0]
            path = (cost, root_ids[:-1] + spur[1], root_edges + spur[2])
            if all(path[1:] != c[1:] for c in (*candidates, *accepted)):
                candidates.append(path)
        if not candidates:
            return
        candidates.sort(key=lambda c: (c[0], len(c[1])))
        accepted.append(candidates.pop(0))
        yield accepted[-1]
