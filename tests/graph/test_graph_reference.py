"""Traversal and shortest paths against networkx on seeded random graphs."""

from __future__ import annotations

import random
import uuid
from typing import Any

import httpx
import networkx as nx
import orjson
import pytest

from themis.server.launcher import NodeProcess

VERTICES = 30
EDGES = 70


class RandomGraph:
    """A random multigraph stored on the node and mirrored in networkx."""

    def __init__(self, http: httpx.Client, seed: int) -> None:
        rng = random.Random(seed)
        self.tag = uuid.uuid4().hex[:8]
        self.vertices = [f"v{self.tag}:{i:02d}" for i in range(VERTICES)]
        self.edges: list[dict[str, Any]] = []
        for index in range(EDGES):
            self.edges.append(
                {
                    "_id": f"e{self.tag}:{index:03d}",
                    "_from": rng.choice(self.vertices),
                    "_to": rng.choice(self.vertices),
                    "_type": rng.choice(["a", "b"]),
                    "_weight": rng.randint(0, 9),
                }
            )
        items = [
            {
                "key": e["_id"],
                "blob": orjson.dumps(
                    {k: v for k, v in e.items() if k != "_id"}
                ).decode(),
            }
            for e in self.edges
        ]
        assert http.post("/batch/put", json={"items": items}).status_code == 200

    def reference(self, direction: str, edge_type: str | None = None) -> Any:
        """A networkx graph whose neighbour order is edge ``_id`` order."""
        graph: Any = nx.MultiGraph() if direction == "any" else nx.MultiDiGraph()
        graph.add_nodes_from(self.vertices)
        for edge in self.edges:
            if edge_type is not None and edge["_type"] != edge_type:
                continue
            ends = (
                (edge["_to"], edge["_from"])
                if direction == "inbound"
                else (edge["_from"], edge["_to"])
            )
            graph.add_edge(*ends, weight=edge["_weight"])
        return graph


@pytest.fixture(scope="module")
def graphs(node: NodeProcess) -> list[RandomGraph]:
    with httpx.Client(base_url=node.url, timeout=10.0) as http:
        return [RandomGraph(http, seed) for seed in range(4)]


@pytest.mark.parametrize("direction", ["outbound", "inbound", "any"])
@pytest.mark.parametrize("edge_type", [None, "a"])
def test_bfs_matches_networkx(
    http: httpx.Client, graphs: list[RandomGraph], direction: str, edge_type: str | None
) -> None:
    for graph in graphs:
        reference = graph.reference(direction, edge_type)
        for start in graph.vertices[:6]:
            for min_depth, max_depth in [(0, 0), (0, 2), (1, 3), (2, 100)]:
                body = {
                    "start": start,
                    "min_depth": min_depth,
                    "max_depth": max_depth,
                    "direction": direction,
                    "edge_type": edge_type,
                }
                answer = http.post("/graph/traverse", json=body).json()
                order = [start] + [
                    v for _, v in nx.bfs_edges(reference, start, depth_limit=max_depth)
                ]
                lengths = nx.single_source_shortest_path_length(
                    reference, start, cutoff=max_depth
                )
                expected = [v for v in order if lengths[v] >= min_depth]
                assert answer["visited"] == expected
                assert answer["depths"] == {v: lengths[v] for v in expected}

                body["order"] = "dfs"
                dfs = http.post("/graph/traverse", json=body).json()
                assert sorted(dfs["visited"]) == sorted(expected)
                assert dfs["depths"] == answer["depths"]


def test_dfs_preorder_on_a_tree(http: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:8]
    tree = (
        nx.random_labeled_tree(25, seed=7)
        if hasattr(nx, "random_labeled_tree")
        else nx.random_tree(25, seed=7)
    )
    directed = nx.bfs_tree(tree, 0)
    items = []
    for index, (u, v) in enumerate(sorted(directed.edges, key=lambda e: (e[0], e[1]))):
        blob = {"_from": f"t{tag}:{u:02d}", "_to": f"t{tag}:{v:02d}"}
        items.append(
            {
                "key": f"te{tag}:{u:02d}-{v:02d}-{index:03d}",
                "blob": orjson.dumps(blob).decode(),
            }
        )
    http.post("/batch/put", json={"items": items})
    ordered = nx.DiGraph()
    for u, v in sorted(directed.edges):
        ordered.add_edge(u, v)
    expected = [f"t{tag}:{v:02d}" for v in nx.dfs_preorder_nodes(ordered, 0)]
    body = {"start": f"t{tag}:00", "max_depth": 30, "order": "dfs"}
    assert http.post("/graph/traverse", json=body).json()["visited"] == expected


@pytest.mark.parametrize("direction", ["outbound", "any"])
def test_shortest_paths_match_networkx(
    http: httpx.Client, graphs: list[RandomGraph], direction: str
) -> None:
    for graph in graphs:
        reference = graph.reference(direction)
        weights = {e["_id"]: e["_weight"] for e in graph.edges}
        for start in graph.vertices[:4]:
            for target in graph.vertices[-6:]:
                for weighted in (False, True):
                    body = {"start": start, "target": target, "direction": direction}
                    if weighted:
                        body["weight_attribute"] = "_weight"
                    response = http.post("/graph/shortest_path", json=body)
                    try:
                        expected = nx.shortest_path_length(
                            reference,
                            start,
                            target,
                            weight="weight" if weighted else None,
                        )
                    except nx.NetworkXNoPath:
                        assert response.status_code == 404
                        continue
                    answer = response.json()
                    assert answer["distance"] == expected
                    assert (
                        answer["vertices"][0] == start
                        and answer["vertices"][-1] == target
                    )
                    costs = [
                        weights[e["_id"]] if weighted else 1 for e in answer["edges"]
                    ]
                    assert sum(costs) == expected
                    for position, edge in enumerate(answer["edges"]):
                        ends = {edge["_from"], edge["_to"]}
                        assert ends == {
                            answer["vertices"][position],
                            answer["vertices"][position + 1],
                        }
