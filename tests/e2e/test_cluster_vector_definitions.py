"""Every shard of a cluster holds the same definition of a collection's vector index.

The collection's home shard decides it (``server/vector_definitions.py``), so vectors
of another dimension are refused on every shard, not only on the first one to define
the index, and every search of the collection can run everywhere.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from themis import ThemisClient, _routing
from themis.server.launcher import LocalCluster, NodeProcess
from themis.server.vector_definitions import DEFINE_PATH


def _home(cluster: LocalCluster, collection: str) -> NodeProcess:
    ids = [str(node.shard_id) for node in cluster.nodes]
    home = _routing.owner(ids, f"vector-index:default:{collection}")
    return next(node for node in cluster.nodes if node.shard_id == home)


def _owner(cluster: LocalCluster, collection: str, pk: str) -> str:
    ids = [str(node.shard_id) for node in cluster.nodes]
    key = _routing.routing_key(f"vector.default.{collection}:{pk}")
    return _routing.owner(ids, key)


def _dimensions(cluster: LocalCluster, collection: str) -> set[int]:
    found = set()
    for url in cluster.urls:
        answer = httpx.get(
            f"{url}/vector/index/config", params={"collection": collection}
        )
        if answer.status_code == 200:
            found.add(answer.json()["dimension"])
    return found


def test_vectors_of_another_dimension_are_refused_on_every_shard(
    cluster: LocalCluster,
) -> None:
    collection = f"dims{uuid.uuid4().hex[:8]}"
    first = "a"
    other = next(
        f"b{n}"
        for n in range(100)
        if _owner(cluster, collection, f"b{n}") != _owner(cluster, collection, first)
    )
    with ThemisClient(cluster.urls) as client:
        client.vector_insert(
            [{"pk": first, "vector": [1, 0, 0]}], collection=collection
        )
        summary = client.vector_insert(
            [{"pk": other, "vector": [1, 0]}], collection=collection
        )
        assert summary["inserted"] == 0
        [error] = summary["errors"]
        assert "expected a vector of dimension 3, received 2" in error["message"]
        hits = client.vector_search([1, 0, 0], top_k=3, collection=collection)
    assert isinstance(hits, list) and [hit["pk"] for hit in hits] == [first]
    assert _dimensions(cluster, collection) == {3}


def test_shards_defining_one_collection_at_once_agree(cluster: LocalCluster) -> None:
    collection = f"race{uuid.uuid4().hex[:8]}"

    def insert(position: int) -> dict[str, Any]:
        url = cluster.urls[position % len(cluster.urls)]
        dimension = 2 + position
        body = {
            "collection": collection,
            "items": [{"pk": f"p{position}", "vector": [1.0] * dimension}],
        }
        answer = httpx.post(f"{url}/vector/batch_insert", json=body, timeout=10.0)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(insert, range(6)))
    [dimension] = _dimensions(cluster, collection)
    assert {answer["dimension"] for answer in answers} == {dimension}
    assert sum(answer["inserted"] for answer in answers) == 1


def test_an_explicit_definition_elsewhere_conflicts(cluster: LocalCluster) -> None:
    collection = f"explicit{uuid.uuid4().hex[:8]}"
    first, second = cluster.urls[0], cluster.urls[1]
    spec = {"collection": collection, "dimension": 4, "metric": "l2"}
    assert httpx.post(f"{first}/vector/index", json=spec).status_code == 201
    other = httpx.post(f"{second}/vector/index", json={**spec, "dimension": 5})
    assert other.status_code == 409
    assert "dimension 4" in other.json()["message"]
    # The refused request still left the second node holding the definition.
    same = httpx.post(f"{second}/vector/index", json=spec)
    assert same.status_code == 200
    assert (same.json()["dimension"], same.json()["metric"]) == (4, "L2")


def test_the_home_answers_definitions_only_when_well_formed(
    cluster: LocalCluster,
) -> None:
    answer = httpx.post(
        cluster.urls[0] + DEFINE_PATH, json={"collection": "x", "dimension": 0}
    )
    assert answer.status_code == 400
    assert "expected 'dimension' between 1" in answer.json()["message"]


def test_a_new_collection_waits_for_its_home_shard(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, shards=3) as cluster:
        collection = "away"
        home = _home(cluster, collection)
        asked = next(url for url in cluster.urls if url != home.url)
        home.stop()
        body = {"collection": collection, "items": [{"pk": "p", "vector": [1.0]}]}
        answer = httpx.post(f"{asked}/vector/batch_insert", json=body, timeout=10.0)
        assert answer.status_code == 503
        assert f"shard {home.shard_id!r}" in answer.json()["message"]
        assert "did not answer" in answer.json()["message"]
        home.start()
        answer = httpx.post(f"{asked}/vector/batch_insert", json=body, timeout=10.0)
        assert answer.status_code == 200
        assert answer.json()["inserted"] == 1


def test_a_single_node_is_its_own_home(node: NodeProcess) -> None:
    collection = f"alone{uuid.uuid4().hex[:8]}"
    body = {"collection": collection, "items": [{"pk": "p", "vector": [1.0, 2.0]}]}
    answer = httpx.post(f"{node.url}/vector/batch_insert", json=body)
    assert answer.status_code == 200 and answer.json()["dimension"] == 2


def test_search_tuning_reaches_every_shard_holding_the_index(
    cluster: LocalCluster,
) -> None:
    collection = f"tune{uuid.uuid4().hex[:8]}"
    with ThemisClient(cluster.urls) as client:
        items = [{"pk": f"p{n}", "vector": [1.0, float(n)]} for n in range(30)]
        assert client.vector_insert(items, collection=collection)["inserted"] == 30
    answer = httpx.put(
        f"{cluster.urls[0]}/vector/index/config",
        json={"collection": collection, "efSearch": 77},
    )
    assert answer.status_code == 200, answer.text
    for url in cluster.urls:
        config = httpx.get(
            f"{url}/vector/index/config", params={"collection": collection}
        )
        assert config.json()["efSearch"] == 77
    unknown = httpx.put(
        f"{cluster.urls[0]}/vector/index/config",
        json={"collection": f"none{collection}", "efSearch": 77},
    )
    assert unknown.status_code == 404
    assert "no vector index" in unknown.json()["message"]
