"""The SDK's cluster graph searches, against fake shards that answer neighbours."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from themis import NotFoundError, ThemisClient, ThemisError
from themis._core import traversal

from .fakes import FakeCluster

# (edge id, from, to, weight); edge ids decide neighbour order, not shard order.
EDGES = [
    ("e5", "a", "b", 1.0),
    ("e1", "a", "c", 5.0),
    ("e3", "c", "d", 1.0),
    ("e2", "b", "d", 1.0),
    ("e4", "d", "a", 1.0),
    ("e0", "b", "c", 1.0),
]


def _graph_cluster(batches: list[list[str]]) -> ThemisClient:
    """Three fake shards; shard i holds every third edge and answers neighbours."""
    cluster = FakeCluster(3)
    hosts = list(cluster.nodes)

    def neighbors(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/graph/neighbors":
            return None
        body = json.loads(request.content)
        batches.append(body["vertices"])
        shard = hosts.index(request.url.host)
        mine = [edge for index, edge in enumerate(EDGES) if index % 3 == shard]
        found: dict[str, Any] = {}
        for vertex in body["vertices"]:
            found[vertex] = [
                {"edge": edge, "vertex": to, "_type": None, "_weight": weight}
                for edge, source, to, weight in sorted(mine)
                if source == vertex and body["direction"] == "outbound"
            ]
        return httpx.Response(200, json={"neighbors": found})

    cluster.override = neighbors
    return cluster.client()


def test_traverse_visits_in_edge_id_order_across_shards() -> None:
    client = _graph_cluster([])
    # a's edges e1 (-> c) and e5 (-> b) sit on different shards; e1 comes first.
    assert client.graph_traverse("a", 3) == ["a", "c", "b", "d"]
    assert client.graph_traverse("a", 3, min_depth=2) == ["d"]
    assert client.graph_traverse("a", 0) == ["a"]


def test_traverse_asks_every_shard_once_per_level_in_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches: list[list[str]] = []
    client = _graph_cluster(batches)
    monkeypatch.setattr(traversal, "MAX_FRONTIER", 1)
    client.graph_traverse("a", 2)
    # Level 1: [a] on 3 shards; level 2: [c], [b] on 3 shards each.
    assert sorted(map(tuple, batches)) == sorted(
        [("a",)] * 3 + [("c",)] * 3 + [("b",)] * 3
    )


def test_shortest_path_weighs_edges_like_one_node() -> None:
    client = _graph_cluster([])
    hops = client.shortest_path("a", "d")
    assert hops["vertices"] == ["a", "c", "d"]
    assert hops["distance"] == 2.0
    weighted = client.shortest_path("a", "d", weight_attribute="_weight")
    assert weighted["vertices"] == ["a", "b", "d"]
    assert weighted["distance"] == 2.0
    assert [edge["_id"] for edge in weighted["edges"]] == ["e5", "e2"]


def test_shortest_path_without_path_is_not_found() -> None:
    client = _graph_cluster([])
    with pytest.raises(NotFoundError) as info:
        client.shortest_path("d", "zz")
    assert info.value.message == "no path from 'd' to 'zz'"
    assert info.value.status_code == 404


def test_malformed_neighbours_are_an_error() -> None:
    cluster = FakeCluster(2)
    cluster.override = lambda request: (
        httpx.Response(200, json={"neighbors": [1]})
        if request.url.path == "/graph/neighbors"
        else None
    )
    with pytest.raises(ThemisError, match=r"expected \{'neighbors'"):
        cluster.client().graph_traverse("a", 1)
