"""Graph searches over a sharded cluster, driven by ``POST /graph/neighbors``.

An edge document lives on the shard that owns its key, and a shard's adjacency only
covers the edges it stores, so one shard cannot traverse the graph alone. On a
topology with more than one shard the SDK runs the search itself: it asks every shard
for the neighbours of a set of vertices, merges each vertex's lists by edge ``_id``
(the order one node holding all the data visits them in) and repeats. The visit
order, depths and paths are therefore exactly those of ``/graph/traverse`` and
``/graph/shortest_path`` on one node. A one-shard topology keeps those routes.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from themis import _json, _keys
from themis._core import protocol
from themis._core.effects import (
    LOAD_TOPOLOGY,
    Call,
    Operation,
    Outcome,
    Parallel,
    Reply,
)
from themis._core.topology import Topology
from themis.errors import ThemisError, http_error

__all__ = [
    "MAX_FRONTIER",
    "PREFETCH",
    "EdgeQuery",
    "FetchDocuments",
    "neighbors",
    "shortest_path",
    "traverse",
]

MAX_FRONTIER = 10_000
"""Most vertices one ``/graph/neighbors`` request may name (the route's limit)."""

PREFETCH = 1_000
"""Most vertices a shortest-path search expands ahead in one round trip."""

Neighbor = dict[str, Any]
Adjacency = dict[str, list[Neighbor]]
FetchDocuments = Callable[[Sequence[str]], Operation[dict[str, Any]]]
"""Reads documents by ``_id``; answers ``{_id: document}`` for those that exist."""


@dataclass(frozen=True)
class EdgeQuery:
    """Which edges a search follows.

    Attributes:
        direction: ``outbound``, ``inbound`` or ``any``.
        edge_type: Only edges whose ``_type`` is this, when given.
    """

    direction: str
    edge_type: str | None = None

    def body(self, vertices: Sequence[str]) -> dict[str, Any]:
        """The ``/graph/neighbors`` request for ``vertices``."""
        body: dict[str, Any] = {"vertices": list(vertices), "direction": self.direction}
        if self.edge_type is not None:
            body["edge_type"] = self.edge_type
        return body


# --- neighbours -------------------------------------------------------------------


def neighbors(
    vertices: Sequence[str], edges: EdgeQuery, topology: Topology
) -> Operation[Adjacency]:
    """Every vertex's neighbours over all shards, in edge ``_id`` order.

    Each shard receives the vertices in chunks of :data:`MAX_FRONTIER`; all requests
    of one call run in parallel.

    Raises:
        ThemisError: A shard failed or answered in an unexpected shape.
    """
    chunks = [
        vertices[start : start + MAX_FRONTIER]
        for start in range(0, len(vertices), MAX_FRONTIER)
    ]
    ops = [
        _ask(shard_id, edges.body(chunk))
        for shard_id in topology.shard_ids
        for chunk in chunks
    ]
    outcomes: list[Outcome] = yield Parallel(ops)
    merged: Adjacency = {vertex: [] for vertex in vertices}
    for outcome in outcomes:
        for vertex, found in outcome.unwrap().items():
            merged.setdefault(vertex, []).extend(found)
    for found in merged.values():
        # Stable, so a self-loop seen from both ends keeps out before in, as one node.
        found.sort(key=lambda item: item["edge"])
    return merged


def _ask(shard_id: str, body: dict[str, Any]) -> Operation[Adjacency]:
    reply: Reply = yield Call("POST", "/graph/neighbors", body=body, shard_id=shard_id)
    found = reply.object().get("neighbors")
    if not isinstance(found, dict) or not all(
        isinstance(items, list) and all(_is_neighbor(item) for item in items)
        for items in found.values()
    ):
        raise ThemisError(
            "expected {'neighbors': {vertex: [{'edge', 'vertex', ...}]}} from "
            f"{reply.url}, got {found!r:.200}"
        )
    return found


def _is_neighbor(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("edge"), str)
        and isinstance(item.get("vertex"), str)
    )


# --- traversal --------------------------------------------------------------------


def traverse(
    start: str,
    min_depth: int,
    max_depth: int,
    edges: EdgeQuery,
    *,
    by_neighbors: bool = False,
) -> Operation[list[str]]:
    """Breadth-first traversal: every vertex once, at its shortest depth.

    One shard answers ``/graph/traverse`` itself; on more, or with
    ``by_neighbors`` (a transaction's node answers ``/graph/neighbors`` for the
    whole cluster), the search runs level by level, one parallel
    ``/graph/neighbors`` round per depth.

    Returns:
        The ``_id`` of every vertex reached at a depth in ``min_depth..max_depth``, in
        visit order (the start first when ``min_depth`` is 0).
    """
    topology: Topology = yield LOAD_TOPOLOGY
    if len(topology.shards) == 1 and not by_neighbors:
        return (
            yield from protocol.traverse(
                start, max_depth, min_depth, edges.direction, edges.edge_type
            )
        )
    depths = {start: 0}
    order = [start]
    frontier = [start]
    for depth in range(1, max_depth + 1):
        if not frontier:
            break
        adjacency = yield from neighbors(frontier, edges, topology)
        frontier = _next_level(frontier, adjacency, depths, depth)
        order.extend(frontier)
    return [vertex for vertex in order if depths[vertex] >= min_depth]


def _next_level(
    frontier: Sequence[str], adjacency: Adjacency, depths: dict[str, int], depth: int
) -> list[str]:
    reached: list[str] = []
    for vertex in frontier:
        for item in adjacency.get(vertex, ()):
            found = item["vertex"]
            if found not in depths:
                depths[found] = depth
                reached.append(found)
    return reached


# --- shortest path ----------------------------------------------------------------


@dataclass
class _Search:
    """The state of one shortest-path search (Dijkstra, as one node runs it)."""

    start: str
    best: dict[str, float]
    parents: dict[str, tuple[str, str]]
    heap: list[tuple[float, int, str]]
    done: set[str]
    pushed: int = 0

    @classmethod
    def begin(cls, start: str) -> _Search:
        return cls(start, {start: 0.0}, {}, [(0.0, 0, start)], set())

    def ahead(self, vertex: str, known: Mapping[str, Any]) -> list[str]:
        """``vertex`` and the cheapest queued vertices whose neighbours are unknown."""
        wanted = [vertex]
        for _, _, queued in heapq.nsmallest(PREFETCH, self.heap):
            if queued not in known and queued not in self.done and queued != vertex:
                wanted.append(queued)
        return list(dict.fromkeys(wanted))

    def relax(self, vertex: str, cost: float, item: Neighbor, step: float) -> None:
        """Queues ``item``'s vertex if the edge makes it cheaper to reach."""
        if cost + step < self.best.get(item["vertex"], math.inf):
            self.best[item["vertex"]] = cost + step
            self.parents[item["vertex"]] = (item["edge"], vertex)
            self.pushed += 1
            heapq.heappush(self.heap, (cost + step, self.pushed, item["vertex"]))

    def path(self, target: str) -> tuple[list[str], list[str]]:
        """The vertices and edge ids from the start to ``target``."""
        vertices, edge_ids = [target], []
        vertex = target
        while vertex != self.start:
            edge_id, vertex = self.parents[vertex]
            edge_ids.append(edge_id)
            vertices.append(vertex)
        return vertices[::-1], edge_ids[::-1]


def shortest_path(
    start: str,
    target: str,
    edges: EdgeQuery,
    weight_attribute: str | None,
    fetch: FetchDocuments,
    *,
    by_neighbors: bool = False,
) -> Operation[dict[str, Any]]:
    """The cheapest path from ``start`` to ``target``.

    One shard answers ``/graph/shortest_path`` itself; on more, or with
    ``by_neighbors``, the search runs here over ``/graph/neighbors``.

    Without ``weight_attribute`` every edge costs 1; with it, each edge costs that
    attribute (1 when absent; ``_weight`` is read from adjacency). Vertices are
    expanded in the order one node expands them, so ties resolve the same way;
    neighbours of the cheapest queued vertices are fetched ahead in one round.

    Returns:
        ``{"vertices": [ids], "edges": [edge documents], "distance"}``.

    Raises:
        NotFoundError: No path exists, as a node answers.
        BadRequestError: An edge weight is negative or not a number.
    """
    topology: Topology = yield LOAD_TOPOLOGY
    if len(topology.shards) == 1 and not by_neighbors:
        body = {
            "start": start,
            "target": target,
            "direction": edges.direction,
            "edge_type": edges.edge_type,
            "weight_attribute": weight_attribute,
        }
        return (yield from protocol.shortest_path(body))
    search = _Search.begin(start)
    known: Adjacency = {}
    costs: dict[str, Any] = {}
    while search.heap:
        cost, _, vertex = heapq.heappop(search.heap)
        if vertex in search.done:
            continue
        if vertex == target:
            return (yield from _answer(search, target, cost, fetch))
        search.done.add(vertex)
        if vertex not in known:
            wanted = search.ahead(vertex, known)
            known.update((yield from neighbors(wanted, edges, topology)))
            costs.update(
                (yield from _edge_costs(wanted, known, weight_attribute, fetch))
            )
        try:
            _expand(search, vertex, cost, known[vertex], weight_attribute, costs)
        except ValueError as exc:
            raise _error(topology, 400, str(exc)) from None
    raise _error(topology, 404, f"no path from {start!r} to {target!r}")


def _expand(
    search: _Search,
    vertex: str,
    cost: float,
    items: list[Neighbor],
    attribute: str | None,
    costs: Mapping[str, Any],
) -> None:
    for item in items:
        if item["vertex"] not in search.done:
            search.relax(vertex, cost, item, _cost(item, attribute, costs))


def _edge_costs(
    vertices: Sequence[str],
    known: Adjacency,
    attribute: str | None,
    fetch: FetchDocuments,
) -> Operation[dict[str, Any]]:
    """The raw ``attribute`` of every edge at ``vertices``, read from documents."""
    if attribute is None or attribute == "_weight":
        return {}
    ids = list(dict.fromkeys(item["edge"] for v in vertices for item in known[v]))
    docs = yield from fetch(ids)
    return {edge: (docs.get(edge) or {}).get(attribute, 1) for edge in ids}


def _cost(item: Neighbor, attribute: str | None, costs: Mapping[str, Any]) -> float:
    if attribute is None:
        return 1.0
    value = item.get("_weight") if attribute == "_weight" else costs[item["edge"]]
    return edge_weight(value, attribute, item["edge"])


def edge_weight(value: Any, attribute: str, edge: str) -> float:
    """Check one edge's weight for a shortest-path search (shared with the node).

    Raises:
        ValueError: the weight is not a non-negative finite number.
    """
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(
            f"expected edge attribute {attribute!r} to be a number, received "
            f"{type(value).__name__} {value!r:.40} on edge {edge!r}"
        )
    if value < 0 or not math.isfinite(value):
        raise ValueError(
            f"expected a non-negative finite weight in {attribute!r}, received "
            f"{value!r} on edge {edge!r}"
        )
    return float(value)


def _answer(
    search: _Search, target: str, cost: float, fetch: FetchDocuments
) -> Operation[dict[str, Any]]:
    vertices, edge_ids = search.path(target)
    docs = (yield from fetch(edge_ids)) if edge_ids else {}
    found = [_as_read(edge, docs.get(edge)) for edge in edge_ids]
    return {"vertices": vertices, "edges": found, "distance": cost}


def _as_read(edge_id: str, doc: Any) -> dict[str, Any]:
    """An edge document as a node's graph routes show it (with ``_key``/``_id``)."""
    if not isinstance(doc, dict):
        return {"_id": edge_id}
    table, _, pk = edge_id.partition(":")
    # A node names a plain ``table:pk`` document as a relational one of `default`.
    urn = _keys.urn_from_wire_key(edge_id) or _keys.URN_PREFIX + ":".join(
        ("relational", "default", table, pk)
    )
    return {**doc, "_key": pk, "_id": edge_id, "_urn": urn}


# --- errors -----------------------------------------------------------------------


def _error(topology: Topology, status: int, message: str) -> ThemisError:
    """The error a node would raise, so callers catch one type on any topology."""
    url = topology.shards[0].endpoint.rstrip("/") + "/graph/shortest_path"
    request = httpx.Request("POST", url)
    body = {"error": True, "message": message, "status_code": status}
    response = httpx.Response(status, content=_json.dumps(body), request=request)
    return http_error(response)
