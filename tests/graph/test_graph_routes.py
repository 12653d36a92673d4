"""Edge routes, adjacency upkeep, named graphs and bad input on a real node."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from themis.server.launcher import NodeProcess


def _vertex() -> str:
    return f"users:{uuid.uuid4().hex[:12]}"


def _edge(http: httpx.Client, source: str, target: str, **extra: Any) -> str:
    response = http.post("/graph/edge", json={"_from": source, "_to": target, **extra})
    assert response.status_code == 201, response.text
    edge_id: str = response.json()["id"]
    return edge_id


def _visited(http: httpx.Client, start: str, **options: Any) -> list[str]:
    body = {"start": start, "max_depth": 5, **options}
    response = http.post("/graph/traverse", json=body)
    assert response.status_code == 200, response.text
    visited: list[str] = response.json()["visited"]
    return visited


def test_create_edge_answers_its_id(http: httpx.Client) -> None:
    a, b = _vertex(), _vertex()
    response = http.post(
        "/graph/edge",
        json={"_from": a, "_to": b, "_key": "e1" + a[6:], "collection": "follows"},
    )
    assert response.status_code == 201
    edge_id = f"graph.default.follows:e1{a[6:]}"
    assert response.json() == {"id": edge_id, "_id": edge_id, "_key": "e1" + a[6:]}
    stored = orjson.loads(http.get(f"/entities/{edge_id}").json()["blob"])
    assert stored == {"_from": a, "_to": b}


def test_edges_from_routes_and_entities_are_traversable(http: httpx.Client) -> None:
    a, b, c = _vertex(), _vertex(), _vertex()
    _edge(http, a, b)
    blob = orjson.dumps({"_from": b, "_to": c, "_type": "knows"}).decode()
    assert http.put(f"/entities/links:{uuid.uuid4().hex}", json={"blob": blob})
    assert _visited(http, a) == [a, b, c]
    body = http.post("/graph/traverse", json={"start_vertex": a, "max_depth": 2})
    assert body.json() == {
        "start_vertex": a,
        "max_depth": 2,
        "visited_count": 3,
        "visited": [a, b, c],
        "depths": {a: 0, b: 1, c: 2},
    }


def test_overwrite_and_delete_keep_adjacency_exact(http: httpx.Client) -> None:
    a, b, c = _vertex(), _vertex(), _vertex()
    key = f"links:{uuid.uuid4().hex}"
    http.put(
        f"/entities/{key}", json={"blob": orjson.dumps({"_from": a, "_to": b}).decode()}
    )
    http.put(
        f"/entities/{key}", json={"blob": orjson.dumps({"_from": a, "_to": c}).decode()}
    )
    assert _visited(http, a) == [a, c]
    assert _visited(http, b, direction="inbound") == [b]
    assert _visited(http, c, direction="inbound") == [c, a]

    http.put(f"/entities/{key}", json={"blob": '{"_from": 1, "_to": 2}'})
    assert _visited(http, a) == [a]

    http.put(
        f"/entities/{key}", json={"blob": orjson.dumps({"_from": a, "_to": b}).decode()}
    )
    assert http.delete(f"/entities/{key}").status_code == 200
    assert _visited(http, a) == [a]


def test_delete_edge_route(http: httpx.Client) -> None:
    a, b = _vertex(), _vertex()
    edge_id = _edge(http, a, b, _key=f"del{a[6:]}")
    bare = edge_id.partition(":")[2]
    assert http.delete(f"/graph/edge/{bare}").json() == {"deleted": True, "id": edge_id}
    assert _visited(http, a) == [a]
    missing = http.delete(f"/graph/edge/{edge_id}")
    assert missing.status_code == 404
    assert missing.json()["message"] == f"edge not found: {edge_id!r}"


def test_options_filter_and_include(http: httpx.Client) -> None:
    a, b, c, d = _vertex(), _vertex(), _vertex(), _vertex()
    tag = uuid.uuid4().hex
    e1 = _edge(http, a, b, _type="knows", _key=f"{tag}1")
    _edge(http, a, c, _type="likes", _key=f"{tag}2")
    _edge(http, b, d, _type="knows", collection="other", _key=f"{tag}3")
    assert _visited(http, a, edge_type="knows") == [a, b, d]
    assert _visited(http, a, edge_collection="edges") == [a, b, c]
    assert _visited(http, a, min_depth=1, max_depth=1) == [b, c]
    assert _visited(http, d, direction="ANY") == [d, b, a, c]
    assert _visited(http, a, limit=2) == [a, b]

    body = {"start": a, "max_depth": 1, "edge_type": "knows"}
    body["include"] = ["vertices", "edges", "paths"]
    answer = http.post("/graph/traverse", json=body).json()
    assert answer["vertices"][1] == {"_id": b, "_key": b[6:]}
    assert [edge["_id"] for edge in answer["edges"]] == [e1]
    assert answer["paths"][1] == {"length": 1, "vertices": [a, b], "edges": [e1]}


def test_shortest_path_and_neighbors(http: httpx.Client) -> None:
    a, b, c = _vertex(), _vertex(), _vertex()
    ab = _edge(http, a, b, _weight=5)
    ac = _edge(http, a, c, _weight=1)
    cb = _edge(http, c, b, _weight=1)
    hops = http.post("/graph/shortest_path", json={"start": a, "target": b}).json()
    assert hops["vertices"] == [a, b] and hops["distance"] == 1
    weighted = http.post(
        "/graph/shortest_path",
        json={"start": a, "target": b, "weight_attribute": "_weight"},
    ).json()
    assert weighted["vertices"] == [a, c, b]
    assert [edge["_id"] for edge in weighted["edges"]] == [ac, cb]
    assert weighted["distance"] == 2

    found = http.post("/graph/neighbors", json={"vertices": [a]}).json()
    assert sorted(n["edge"] for n in found["neighbors"][a]) == sorted([ab, ac])
    unreachable = http.post("/graph/shortest_path", json={"start": b, "target": a})
    assert unreachable.status_code == 404
    assert unreachable.json()["message"] == f"no path from {b!r} to {a!r}"


def test_named_graph_lifecycle(http: httpx.Client) -> None:
    name = f"g{uuid.uuid4().hex[:8]}"
    definition = {
        "name": name,
        "edge_definitions": [
            {"collection": "follows", "from": ["users"], "to": ["users"]}
        ],
    }
    assert http.post("/graph", json=definition).status_code == 201
    assert http.post("/graph", json=definition).status_code == 409
    assert http.get(f"/graph/{name}").json() == definition
    assert http.delete(f"/graph/{name}").json() == {"deleted": True, "name": name}
    assert http.get(f"/graph/{name}").status_code == 404


def _error(response: httpx.Response) -> tuple[int, str]:
    message: str = response.json()["message"]
    return response.status_code, message


def test_bad_input_messages(http: httpx.Client) -> None:
    a, b = _vertex(), _vertex()
    cases = [
        (
            "/graph/traverse",
            {"max_depth": 1},
            "missing required field 'start' (or 'start_vertex')",
        ),
        ("/graph/traverse", {"start": a}, "missing required field 'max_depth'"),
        (
            "/graph/traverse",
            {"start": a, "max_depth": -1},
            "expected 'max_depth' between 0 and 100, received -1",
        ),
        (
            "/graph/traverse",
            {"start": a, "max_depth": "2"},
            "expected field 'max_depth' to be int, received str '2'",
        ),
        (
            "/graph/traverse",
            {"start": a, "max_depth": 1, "min_depth": 2},
            "expected 'min_depth' <= 'max_depth', received min_depth=2 and max_depth=1",
        ),
        (
            "/graph/traverse",
            {"start": a, "max_depth": 1, "direction": "up"},
            "expected 'direction' to be one of outbound, inbound, any, received 'up'",
        ),
        (
            "/graph/traverse",
            {"start": a, "max_depth": 1, "include": ["nodes"]},
            "expected 'include' to list vertices, edges, paths, received 'nodes'",
        ),
        ("/graph/edge", {"_to": b}, "missing required field '_from'"),
        (
            "/graph/edge",
            {"_from": a, "_to": b, "_weight": "x"},
            "expected field '_weight' to be int/float, received str 'x'",
        ),
        (
            "/graph/edge",
            {"_from": a, "_to": b, "collection": "a.b"},
            "expected 'collection' without '.' or ':', received 'a.b'",
        ),
        (
            "/graph/neighbors",
            {"vertices": [1]},
            "expected 'vertices' to hold non-empty strings, received 1 at position 0",
        ),
    ]
    for path, body, message in cases:
        assert _error(http.post(path, json=body)) == (400, message), body

    edge = _edge(http, a, b, _weight=-2)
    negative = http.post(
        "/graph/shortest_path",
        json={"start": a, "target": b, "weight_attribute": "_weight"},
    )
    assert _error(negative) == (
        400,
        "expected a non-negative finite weight in '_weight', "
        f"received -2.0 on edge {edge!r}",
    )


def test_adjacency_survives_kill_9(fresh_dir: Path) -> None:
    a, b, c = _vertex(), _vertex(), _vertex()
    node = NodeProcess(fresh_dir).start()
    try:
        with httpx.Client(base_url=node.url, timeout=10.0) as http:
            _edge(http, a, b)
            _edge(http, b, c)
    finally:
        node.kill()
    restarted = NodeProcess(fresh_dir, port=node.port).start()
    try:
        with httpx.Client(base_url=restarted.url, timeout=10.0) as http:
            assert _visited(http, a) == [a, b, c]
    finally:
        restarted.stop()
