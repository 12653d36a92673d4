"""Graph routes: edges, traversal, shortest path, neighbours and named graphs."""

from __future__ import annotations

import asyncio
import urllib.parse
import uuid
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from themis import _json
from themis.server import peers
from themis.server.entities import (
    delete_documents,
    read_stored,
    reader,
    write_documents,
)
from themis.server.errors import BadRequest, Conflict, NotFound, ServerError
from themis.server.graph import (
    DIRECTIONS,
    MAX_DEPTH,
    EdgeFilter,
    edge_key,
    graph_definition,
    graph_definition_delete,
    graph_definition_op,
    vertex_stub,
)
from themis.server.graph_reach import (
    MAX_NEIGHBOR_VERTICES,
    ClusterReach,
    GraphReach,
    LocalReach,
)
from themis.server.graph_search import Traversal, shortest_path, traverse
from themis.server.http import PEER_HEADER, field, json_response, read_object
from themis.server.keys import DEFAULT_NAMESPACE, check_segment, parse_key
from themis.server.state import NodeState, node_of
from themis.server.transaction_routes import refuse_transaction, transaction_of

_CONTROL_FIELDS = ("collection", "namespace", "_key", "_id")
_INCLUDE = ("vertices", "edges", "paths")


# --- edges ------------------------------------------------------------------------


async def create_edge(request: Request) -> Response:
    body = await read_object(request)
    doc = _edge_document(body)
    collection = _name(body, "collection", "edges")
    namespace = _name(body, "namespace", DEFAULT_NAMESPACE)
    pk = _optional(body, "_key", str) or uuid.uuid4().hex
    key = parse_key(f"graph.{namespace}.{collection}:{pk}")
    await write_documents(request, [(key, _json.dumps(doc))])
    body = {"id": key.wire, "_id": key.wire, "_key": key.pk}
    return json_response(body, status_code=201)


async def delete_edge(request: Request) -> Response:
    key = edge_key(request.path_params["id"])
    (blob,) = await read_stored(request, [key])
    doc = None if blob is None else _json.loads(blob)
    if not isinstance(doc, dict) or not isinstance(doc.get("_from"), str):
        raise NotFound(f"edge not found: {key.wire!r}")
    (existed,) = await delete_documents(request, [key])
    if not existed:
        raise NotFound(f"edge not found: {key.wire!r}")
    return json_response({"deleted": True, "id": key.wire})


def _edge_document(body: dict[str, Any]) -> dict[str, Any]:
    for end in ("_from", "_to"):
        check_segment(field(body, end, str), f"{end!r} vertex id")
    _optional(body, "_type", str)
    weight = _optional(body, "_weight", (int, float))
    if isinstance(weight, bool):
        raise BadRequest(f"expected field '_weight' to be a number, received {weight}")
    return {k: v for k, v in body.items() if k not in _CONTROL_FIELDS}


# --- traversal --------------------------------------------------------------------


async def traverse_route(request: Request) -> Response:
    body = await read_object(request)
    start = _start(body, "start", "start_vertex")
    max_depth = _depth(body, "max_depth", None)
    min_depth = _depth(body, "min_depth", 0)
    if min_depth > max_depth:
        raise BadRequest(
            f"expected 'min_depth' <= 'max_depth', received min_depth={min_depth} "
            f"and max_depth={max_depth}"
        )
    order = _choice(body, "order", ("bfs", "dfs"), "bfs")
    include = _include(body)
    limit = _optional(body, "limit", int)
    if limit is not None and limit < 1:
        raise BadRequest(f"expected 'limit' to be at least 1, received {limit}")
    only = _edge_filter(body)

    def run() -> dict[str, Any]:
        with reader(request) as view:
            reach = _reach(request, view, whole_cluster=True)
            result = traverse(
                reach,
                start,
                min_depth=min_depth,
                max_depth=max_depth,
                only=only,
                depth_first=order == "dfs",
                limit=limit,
            )
            answer = _traversal_body(start, max_depth, result)
            answer.update(_expand(reach, result, include))
            return answer

    return json_response(await asyncio.to_thread(run))


def _traversal_body(start: str, max_depth: int, result: Traversal) -> dict[str, Any]:
    return {
        "start_vertex": start,
        "max_depth": max_depth,
        "visited_count": len(result.visited),
        "visited": result.visited,
        "depths": {vertex: result.depths[vertex] for vertex in result.visited},
    }


def _expand(reach: GraphReach, result: Traversal, include: list[str]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if "vertices" in include:
        docs = reach.documents(result.visited)
        extra["vertices"] = [
            doc if doc is not None else vertex_stub(vertex)
            for vertex, doc in zip(result.visited, docs, strict=True)
        ]
    if "edges" in include:
        ids = [result.parents[v][0] for v in result.visited if v in result.parents]
        extra["edges"] = _edge_documents(reach, ids)
    if "paths" in include:
        extra["paths"] = []
        for vertex in result.visited:
            vertices, edge_ids = result.path_to(vertex)
            path = {"length": len(edge_ids), "vertices": vertices, "edges": edge_ids}
            extra["paths"].append(path)
    return extra


# --- shortest path and neighbours -------------------------------------------------


async def shortest_path_route(request: Request) -> Response:
    body = await read_object(request)
    start = _start(body, "start", "start_vertex")
    target = _start(body, "target", "target_vertex")
    weight_attribute = _optional(body, "weight_attribute", str)
    only = _edge_filter(body)

    def run() -> dict[str, Any] | None:
        with reader(request) as view:
            reach = _reach(request, view, whole_cluster=True)
            path = shortest_path(
                reach, start, target, only=only, weight_attribute=weight_attribute
            )
            if path is None:
                return None
            docs = _edge_documents(reach, path.edges)
            return {"vertices": path.vertices, "edges": docs, "distance": path.distance}

    answer = await asyncio.to_thread(run)
    if answer is None:
        raise NotFound(f"no path from {start!r} to {target!r}")
    return json_response(answer)


async def neighbors_route(request: Request) -> Response:
    body = await read_object(request)
    vertices: list[Any] = field(body, "vertices", list)
    if len(vertices) > MAX_NEIGHBOR_VERTICES:
        raise BadRequest(
            f"expected at most {MAX_NEIGHBOR_VERTICES} vertices, "
            f"received {len(vertices)}"
        )
    for position, vertex in enumerate(vertices):
        if not isinstance(vertex, str) or not vertex:
            raise BadRequest(
                "expected 'vertices' to hold non-empty strings, received "
                f"{vertex!r:.40} at position {position}"
            )
    only = _edge_filter(body)

    def run() -> dict[str, list[dict[str, Any]]]:
        # Outside a transaction each shard answers for itself (the SDK merges them);
        # in one, its node answers for the cluster, through the transaction's parts.
        with reader(request) as view:
            reach = _reach(request, view, whole_cluster=False)
            found = reach.around(vertices, only)
        return {
            vertex: [item.wire() for item in items]
            for vertex, items in zip(vertices, found, strict=True)
        }

    return json_response({"neighbors": await anyio.to_thread.run_sync(run)})


def _reach(request: Request, view: Any, *, whole_cluster: bool) -> GraphReach:
    """What a graph search reads: this shard, or every shard of the cluster.

    A request from another shard is always answered for this shard alone. Inside a
    transaction every search covers the cluster; outside one, only those that
    ``whole_cluster`` names.
    """
    node = node_of(request)
    txn = transaction_of(request)
    local = PEER_HEADER in request.headers or len(node.peers()) < 2
    if local or (txn is None and not whole_cluster):
        return LocalReach(view)
    return ClusterReach(node, view, txn)


def _edge_documents(reach: GraphReach, ids: list[str]) -> list[dict[str, Any]]:
    docs = reach.documents(ids)
    return [doc or {"_id": e} for e, doc in zip(ids, docs, strict=True)]


# --- named graphs -----------------------------------------------------------------


async def create_graph(request: Request) -> Response:
    refuse_transaction(request, "creating a graph")
    body = await read_object(request)
    name = _name(body, "name", None)
    definitions = [
        _edge_definition(item, position)
        for position, item in enumerate(field(body, "edge_definitions", list))
    ]
    node = node_of(request)
    with node.storage.snapshot() as view:
        if graph_definition(view, name) is not None:
            raise Conflict(f"graph {name!r} already exists")
    definition = {"name": name, "edge_definitions": definitions}
    await node.storage.write_async([graph_definition_op(definition)])
    if peers.whole_cluster(request):
        # Every shard holds the definition, or none: one that refuses (it has the
        # name already) or does not answer undoes the others.
        outcomes = await anyio.to_thread.run_sync(
            peers.on_others, node, "POST", "/graph", body
        )
        failed = [item for item in outcomes.values() if isinstance(item, ServerError)]
        if failed:
            made = [sid for sid, item in outcomes.items() if isinstance(item, dict)]
            await node.storage.write_async([graph_definition_delete(name)])
            await anyio.to_thread.run_sync(
                peers.undo_on, node, made, "DELETE", _graph_path(name)
            )
            raise failed[0]
    return json_response(definition, status_code=201)


async def get_graph(request: Request) -> Response:
    name = request.path_params["name"]
    with node_of(request).storage.snapshot() as view:
        definition = graph_definition(view, name)
    if definition is None:
        raise NotFound(f"graph not found: {name!r}")
    return json_response(definition)


async def delete_graph(request: Request) -> Response:
    refuse_transaction(request, "deleting a graph")
    name = request.path_params["name"]
    node: NodeState = node_of(request)
    with node.storage.snapshot() as view:
        found = graph_definition(view, name) is not None
    if found:
        await node.storage.write_async([graph_definition_delete(name)])
    if peers.whole_cluster(request):
        outcomes = await anyio.to_thread.run_sync(
            peers.on_others, node, "DELETE", _graph_path(name)
        )
        for item in outcomes.values():
            if isinstance(item, ServerError) and not isinstance(item, NotFound):
                raise item
        found = found or any(isinstance(item, dict) for item in outcomes.values())
    if not found:
        raise NotFound(f"graph not found: {name!r}")
    return json_response({"deleted": True, "name": name})


def _graph_path(name: str) -> str:
    # The name came decoded from a path; a '#', '?' or '%' in it must stay part of
    # the name on the way to the other shards.
    return "/graph/" + urllib.parse.quote(name, safe="")


def _edge_definition(item: Any, position: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise BadRequest(
            f"expected edge_definitions[{position}] to be an object, "
            f"received {type(item).__name__}"
        )
    collection = _name(item, "collection", None)
    ends = {}
    for end in ("from", "to"):
        names = item.get(end, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise BadRequest(
                f"expected edge_definitions[{position}].{end} to be a list of "
                f"collection names, received {names!r:.80}"
            )
        ends[end] = names
    return {"collection": collection, **ends}


# --- request parsing --------------------------------------------------------------


def _optional(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if body.get(name) is None:
        return None
    return field(body, name, kind)


def _name(body: dict[str, Any], name: str, default: str | None) -> str:
    value = _optional(body, name, str)
    if value is None:
        if default is None:
            raise BadRequest(f"missing required field {name!r}")
        return default
    check_segment(value, name)
    if "." in value or ":" in value:
        raise BadRequest(f"expected {name!r} without '.' or ':', received {value!r}")
    return str(value)


def _start(body: dict[str, Any], name: str, alias: str) -> str:
    key = name if body.get(name) is not None else alias
    if body.get(key) is None:
        raise BadRequest(f"missing required field {name!r} (or {alias!r})")
    value: str = field(body, key, str)
    if not value:
        raise BadRequest(f"expected {key!r} to be a vertex id, received ''")
    return value


def _depth(body: dict[str, Any], name: str, default: int | None) -> int:
    if body.get(name) is None and default is not None:
        return default
    value: int = field(body, name, int)
    if not 0 <= value <= MAX_DEPTH:
        raise BadRequest(
            f"expected {name!r} between 0 and {MAX_DEPTH}, received {value}"
        )
    return value


def _choice(
    body: dict[str, Any], name: str, allowed: tuple[str, ...], default: str
) -> str:
    value = _optional(body, name, str)
    if value is None:
        return default
    if value.lower() not in allowed:
        raise BadRequest(
            f"expected {name!r} to be one of {', '.join(allowed)}, received {value!r}"
        )
    return str(value.lower())


def _include(body: dict[str, Any]) -> list[str]:
    include = _optional(body, "include", list) or []
    for item in include:
        if item not in _INCLUDE:
            raise BadRequest(
                f"expected 'include' to list {', '.join(_INCLUDE)}, received {item!r}"
            )
    return list(include)


def _edge_filter(body: dict[str, Any]) -> EdgeFilter:
    direction = _choice(body, "direction", tuple(DIRECTIONS), "outbound")
    return EdgeFilter(
        direction=DIRECTIONS[direction],
        edge_type=_optional(body, "edge_type", str),
        collection=_optional(body, "edge_collection", str),
    )


routes = [
    Route("/graph/edge", create_edge, methods=["POST"]),
    Route("/graph/edge/{id:path}", delete_edge, methods=["DELETE"]),
    Route("/graph/traverse", traverse_route, methods=["POST"]),
    Route("/graph/shortest_path", shortest_path_route, methods=["POST"]),
    Route("/graph/neighbors", neighbors_route, methods=["POST"]),
    Route("/graph", create_graph, methods=["POST"]),
    Route("/graph/{name}", get_graph, methods=["GET"]),
    Route("/graph/{name}", delete_graph, methods=["DELETE"]),
]
