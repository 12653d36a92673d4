"""Graph searches on a 3-shard cluster give exactly what one node gives."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from themis import ThemisClient, ThemisError, _routing
from themis._core import traversal
from themis.server.http import PEER_HEADER
from themis.server.launcher import LocalCluster, NodeProcess

DIRECTIONS = ("outbound", "inbound", "any")


@dataclass(frozen=True)
class Graph:
    """A seeded random graph stored on one node and, placed by owner, on a cluster."""

    vertices: list[str]
    edge_collection: str
    single: ThemisClient
    sharded: ThemisClient


def _random_docs(rng: random.Random, vcol: str, ecol: str) -> dict[str, Any]:
    vertices = [f"{vcol}:v{i}" for i in range(40)]
    docs: dict[str, Any] = {
        vertex: {
            "group": rng.choice("xy"),
            "embedding": [rng.uniform(-1.0, 1.0) for _ in range(4)],
        }
        for vertex in vertices
    }
    for _ in range(110):
        # Random keys, so edge-id order interleaves the shards' edges.
        edge: dict[str, Any] = {
            "_from": rng.choice(vertices),
            "_to": rng.choice(vertices),
            "_type": rng.choice("ab"),
            "_weight": rng.randint(1, 5),
        }
        if rng.random() < 0.8:
            edge["cost"] = rng.randint(0, 9)
        docs[f"{ecol}:{rng.getrandbits(48):012x}"] = edge
    return docs


def _store(url: str, items: list[dict[str, str]]) -> None:
    response = httpx.post(f"{url}/batch/put", json={"items": items}, timeout=30)
    assert response.json()["failed"] == {}


def _load(docs: dict[str, Any], node: NodeProcess, cluster: LocalCluster) -> None:
    items = [
        {"key": key, "blob": orjson.dumps(doc).decode()} for key, doc in docs.items()
    ]
    _store(node.url, items)
    shards = {str(process.shard_id): process.url for process in cluster.nodes}
    placed: dict[str, list[dict[str, str]]] = {url: [] for url in shards.values()}
    for item in items:
        owner = _routing.owner(list(shards), _routing.routing_key(item["key"]))
        placed[shards[owner]].append(item)
    for url, some in placed.items():
        assert some, "every shard should hold part of the graph"
        _store(url, some)


@pytest.fixture(scope="module")
def graph(node: NodeProcess, cluster: LocalCluster) -> Iterator[Graph]:
    tag = uuid.uuid4().hex[:8]
    vcol, ecol = f"gv{tag}", f"ge{tag}"
    docs = _random_docs(random.Random(7), vcol, ecol)
    _load(docs, node, cluster)
    vertices = [key for key in docs if key.startswith(vcol)]
    with ThemisClient(node.url) as single, ThemisClient(cluster.urls) as sharded:
        assert len(sharded.topology().shards) == 3
        yield Graph(vertices, ecol, single, sharded)


def _path(
    client: ThemisClient,
    start: str,
    target: str,
    direction: str = "outbound",
    weight: str | None = None,
) -> Any:
    """The shortest path, or the error's class name and message."""
    try:
        return client.shortest_path(
            start, target, direction=direction, weight_attribute=weight
        )
    except ThemisError as exc:
        return (type(exc).__name__, getattr(exc, "message", str(exc)))


def test_traverse_matches_one_node(graph: Graph) -> None:
    reached = 0
    for start in random.Random(1).sample(graph.vertices, 6):
        for direction in DIRECTIONS:
            for edge_type in (None, "a"):
                for low, high in ((0, 1), (0, 3), (2, 4)):
                    expected, actual = (
                        client.graph_traverse(
                            start, high, edge_type, direction=direction, min_depth=low
                        )
                        for client in (graph.single, graph.sharded)
                    )
                    assert actual == expected
                    reached += len(expected)
    assert reached > 1000


def test_traverse_in_small_chunks_matches_one_node(
    graph: Graph, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(traversal, "MAX_FRONTIER", 3)
    start = graph.vertices[0]
    expected = graph.single.graph_traverse(start, 6, direction="any")
    assert len(expected) > 20
    assert graph.sharded.graph_traverse(start, 6, direction="any") == expected


def test_shortest_paths_match_one_node(graph: Graph) -> None:
    rng = random.Random(2)
    found = 0
    for _ in range(10):
        start, target = rng.sample(graph.vertices, 2)
        for direction in DIRECTIONS:
            for weight in (None, "_weight", "cost"):
                expected, actual = (
                    _path(client, start, target, direction, weight)
                    for client in (graph.single, graph.sharded)
                )
                assert actual == expected
                found += isinstance(expected, dict)
    assert found > 40


def test_shortest_path_errors_match_one_node(graph: Graph) -> None:
    start, target = graph.vertices[0], f"{graph.edge_collection}:nowhere"
    expected = _path(graph.single, start, target)
    assert expected[0] == "NotFoundError"
    assert _path(graph.sharded, start, target) == expected
    bad = {"_key": "negative", "cost": -2}
    for client in (graph.single, graph.sharded):
        client.add_edge(start, graph.vertices[1], attributes=bad, collection="bad")
    expected = _path(graph.single, start, target, weight="cost")
    assert expected[0] == "BadRequestError"
    assert "non-negative" in expected[1]
    assert _path(graph.sharded, start, target, weight="cost") == expected


def test_add_edge_stores_the_edge_on_its_owner(
    graph: Graph, cluster: LocalCluster
) -> None:
    source, target = graph.vertices[:2]
    edge_id = graph.sharded.add_edge(source, target, edge_type="t", collection="own")
    # Asked as a shard asks, each node answers for its own data alone.
    holders = [
        process.shard_id
        for process in cluster.nodes
        if httpx.get(
            f"{process.url}/entities/{edge_id}", headers={PEER_HEADER: "test"}
        ).status_code
        == 200
    ]
    shard_ids = [str(process.shard_id) for process in cluster.nodes]
    assert holders == [_routing.owner(shard_ids, _routing.routing_key(edge_id))]
    assert target in graph.sharded.graph_traverse(source, 1, "t")
    assert graph.sharded.delete_edge(edge_id) is True
    assert graph.sharded.graph_traverse(source, 1, "t") == [source]


def test_hybrid_query_matches_one_node(graph: Graph) -> None:
    aql = (
        f"FOR v IN 1..2 ANY @start {graph.edge_collection} "
        "FILTER v.group == 'x' "
        "LET similarity = COSINE_SIMILARITY(v.embedding, @q) "
        "SORT similarity DESC, v._key LIMIT 8 "
        "RETURN {key: v._key, similarity: similarity}"
    )
    params = {"start": graph.vertices[3], "q": [0.5, -0.25, 1.0, 0.0]}
    expected = graph.single.query(aql, params=params).items
    assert len(expected) == 8
    assert graph.sharded.query(aql, params=params).items == expected


def test_aql_paths_and_documents_match_one_node(graph: Graph) -> None:
    walk = (
        f"FOR v, e, p IN 1..3 OUTBOUND @start {graph.edge_collection} "
        "RETURN [v._id, v.group, e._id, LENGTH(p.vertices)]"
    )
    walked = 0
    for start in random.Random(3).sample(graph.vertices, 4):
        expected = graph.single.query(walk, params={"start": start}).items
        assert graph.sharded.query(walk, params={"start": start}).items == expected
        walked += len(expected)
    assert walked > 20
    ids = [*graph.vertices, f"{graph.vertices[0]}-missing", "no key"]
    read = "RETURN DOCUMENT(@ids)[*]._id"
    found = graph.sharded.query(read, params={"ids": ids}).items
    assert found == graph.single.query(read, params={"ids": ids}).items
    assert found == [graph.vertices]


def _route(url: str, path: str, body: dict[str, Any]) -> Any:
    """The answer of a graph route over plain HTTP: its body, or status and message."""
    answer = httpx.post(f"{url}{path}", json=body, timeout=30)
    if answer.status_code != 200:
        return answer.status_code, answer.json()["message"]
    return answer.json()


def test_every_node_answers_the_traversal_routes_for_the_whole_cluster(
    graph: Graph, node: NodeProcess, cluster: LocalCluster
) -> None:
    # Clients that speak the wire format, not the SDK, ask any one node.
    rng = random.Random(5)
    compared = 0
    for start in rng.sample(graph.vertices, 4):
        for direction in DIRECTIONS:
            body = {
                "start_vertex": start,
                "max_depth": 3,
                "direction": direction,
                "order": rng.choice(["bfs", "dfs"]),
                "include": ["vertices", "edges", "paths"],
            }
            expected = _route(node.url, "/graph/traverse", body)
            for url in cluster.urls:
                assert _route(url, "/graph/traverse", body) == expected
            compared += len(expected["visited"])
    assert compared > 40


def test_every_node_finds_the_shortest_paths_of_the_whole_cluster(
    graph: Graph, node: NodeProcess, cluster: LocalCluster
) -> None:
    # Dijkstra asks every shard for each vertex it settles: a few pairs suffice.
    rng = random.Random(6)
    found = 0
    for _ in range(5):
        start, target = rng.sample(graph.vertices, 2)
        for weight in (None, "_weight", "cost"):
            body = {
                "start_vertex": start,
                "target_vertex": target,
                "direction": "any",
                "weight_attribute": weight,
            }
            expected = _route(node.url, "/graph/shortest_path", body)
            for url in cluster.urls:
                assert _route(url, "/graph/shortest_path", body) == expected
            found += isinstance(expected, dict)
    assert found > 8


def test_a_traversal_that_needs_a_stopped_shard_says_which(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, shards=2) as pair:
        first, second = pair.nodes
        edge = {"_from": "users:a", "_to": "users:b"}
        assert httpx.post(f"{first.url}/graph/edge", json=edge).status_code == 201
        second.stop()
        body = {"start_vertex": "users:a", "max_depth": 2}
        status, message = _route(first.url, "/graph/traverse", body)
        assert status == 503
        assert f"shard {second.shard_id!r} did not answer" in message


def test_a_wide_traversal_reads_its_documents_from_every_shard(
    cluster: LocalCluster,
) -> None:
    tag = uuid.uuid4().hex[:8]
    leaves = {f"l{n}": {"n": n} for n in range(6000)}
    table = f"relational.default.wide{tag}"
    hub = f"{table}:hub"
    edges = {
        f"e{n}": {"_from": hub, "_to": f"{table}:{pk}"} for n, pk in enumerate(leaves)
    }
    with ThemisClient(cluster.urls) as client:
        assert client.batch_put("relational", f"wide{tag}", leaves).failed == {}
        assert client.batch_put("graph", f"spokes{tag}", edges).failed == {}
    body = {"start_vertex": hub, "max_depth": 1, "include": ["vertices", "edges"]}
    answer = _route(cluster.urls[0], "/graph/traverse", body)
    assert answer["visited_count"] == 6001
    found = {doc["_key"]: doc.get("n") for doc in answer["vertices"]}
    assert found == {"hub": None} | {pk: doc["n"] for pk, doc in leaves.items()}
    assert len({edge["_id"] for edge in answer["edges"]}) == 6000
    assert all(edge["_from"] == hub for edge in answer["edges"])
