"""Vector search on a 3-shard cluster equals one node and exact numpy search."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest

from themis import NotFoundError, QueryResult, ThemisClient, _routing
from themis.server.http import PEER_HEADER
from themis.server.launcher import LocalCluster, NodeProcess

COUNT, DIMENSION = 300, 8
FILTERS: list[dict[str, Any] | None] = [None, {"group": 1}, {"n": {"$gte": 120}}]


@dataclass(frozen=True)
class Loaded:
    """The same vectors stored on one node and, by the SDK, on a cluster."""

    collection: str
    data: npt.NDArray[np.float64]
    single: ThemisClient
    sharded: ThemisClient


@pytest.fixture(scope="module")
def loaded(node: NodeProcess, cluster: LocalCluster) -> Iterator[Loaded]:
    collection = f"vec{uuid.uuid4().hex[:8]}"
    data = np.random.default_rng(11).normal(size=(COUNT, DIMENSION))
    items = [
        {"pk": f"p{i}", "vector": row.tolist(), "fields": {"group": i % 3, "n": i}}
        for i, row in enumerate(data)
    ]
    with ThemisClient(node.url) as single, ThemisClient(cluster.urls) as sharded:
        for client in (single, sharded):
            summary = client.vector_insert(items, collection=collection)
            assert summary["inserted"] == COUNT
        yield Loaded(collection, data, single, sharded)


def _exact(
    loaded: Loaded, query: Any, k: int, only: dict[str, Any] | None
) -> list[str]:
    units = loaded.data / np.linalg.norm(loaded.data, axis=1, keepdims=True)
    distances = 1.0 - units @ (query / np.linalg.norm(query))
    allowed = [
        i
        for i in range(COUNT)
        if only is None
        or (
            only.get("group") in (None, i % 3) and i >= only.get("n", {}).get("$gte", 0)
        )
    ]
    ranked = sorted(allowed, key=lambda i: distances[i])
    return [f"p{i}" for i in ranked[:k]]


def _pks(hits: Any) -> list[str]:
    assert isinstance(hits, list)
    return [hit["pk"] for hit in hits]


def test_items_live_on_the_shard_owning_their_document(
    loaded: Loaded, cluster: LocalCluster
) -> None:
    shard_ids = [str(process.shard_id) for process in cluster.nodes]
    for pk in ("p0", "p1", "p2", "p3"):
        key = f"vector.default.{loaded.collection}:{pk}"
        owner = _routing.owner(shard_ids, _routing.routing_key(key))
        # Asked as a shard asks, each node answers for its own data alone.
        holders = [
            process.shard_id
            for process in cluster.nodes
            if httpx.get(
                f"{process.url}/entities/{key}", headers={PEER_HEADER: "test"}
            ).status_code
            == 200
        ]
        assert holders == [owner]
        assert loaded.sharded.get("vector", loaded.collection, pk) is not None


def test_search_matches_one_node_and_numpy(loaded: Loaded) -> None:
    queries = np.random.default_rng(12).normal(size=(5, DIMENSION))
    for query in queries:
        for k in (1, 10, 40):
            for only in FILTERS:
                args = (query.tolist(), k, only)
                sharded = loaded.sharded.vector_search(
                    *args, collection=loaded.collection
                )
                single = loaded.single.vector_search(
                    *args, collection=loaded.collection
                )
                assert _pks(sharded) == _pks(single) == _exact(loaded, query, k, only)
                assert isinstance(sharded, list) and isinstance(single, list)
                for ours, theirs in zip(sharded, single, strict=True):
                    assert ours["distance"] == pytest.approx(theirs["distance"])


def _pages(client: ThemisClient, collection: str, query: list[float], **kw: Any) -> Any:
    pages: list[QueryResult] = []
    cursor: str | None = None
    while True:
        page = client.vector_search(
            query, collection=collection, use_cursor=True, cursor=cursor, **kw
        )
        assert isinstance(page, QueryResult)
        pages.append(page)
        if not page.has_more:
            return pages
        cursor = page.next_cursor


def test_cursor_pages_concatenate_to_the_global_top_k(loaded: Loaded) -> None:
    query = np.random.default_rng(13).normal(size=DIMENSION).tolist()
    for only in FILTERS:
        kw: dict[str, Any] = {"top_k": 50, "metadata_filter": only, "batch_size": 7}
        whole = loaded.sharded.vector_search(
            query, 50, only, collection=loaded.collection
        )
        for client in (loaded.sharded, loaded.single):
            pages = _pages(client, loaded.collection, query, **kw)
            assert len(pages) == 8
            assert [hit["pk"] for page in pages for hit in page.items] == _pks(whole)


def test_foreign_cursor_is_refused(loaded: Loaded) -> None:
    query = [1.0] * DIMENSION
    page = loaded.sharded.vector_search(
        query, 20, collection=loaded.collection, use_cursor=True, batch_size=5
    )
    assert isinstance(page, QueryResult) and page.next_cursor is not None
    with pytest.raises(ValueError, match="restart the search without a cursor"):
        loaded.sharded.vector_search(
            [2.0] * DIMENSION, 20, collection=loaded.collection, cursor=page.next_cursor
        )


RANKINGS = [
    "FOR d IN @@c SORT COSINE_SIMILARITY(d.embedding, @q) DESC LIMIT 10 RETURN d._key",
    "FOR d IN @@c FILTER d.group == 1 "
    "SORT COSINE_SIMILARITY(d.embedding, @q) DESC LIMIT 5, 10 RETURN d._key",
    "FOR d IN @@c SORT L2_DISTANCE(d.embedding, @q) ASC LIMIT 7 RETURN d._key",
]


def test_similarity_ranking_in_aql_matches_one_node_and_numpy(loaded: Loaded) -> None:
    for query in np.random.default_rng(14).normal(size=(4, DIMENSION)).tolist():
        params = {"@c": loaded.collection, "q": query}
        for text in RANKINGS:
            single = loaded.single.query(text, params=params).items
            assert loaded.sharded.query(text, params=params).items == single
        first = loaded.sharded.query(RANKINGS[0], params=params).items
        assert first == _exact(loaded, np.asarray(query), 10, None)


def test_similarity_ranking_is_pushed_to_the_shards(
    loaded: Loaded, cluster: LocalCluster
) -> None:
    body = {
        "query": RANKINGS[0],
        "bindVars": {"@c": loaded.collection, "q": [1.0] * DIMENSION},
        "explain": True,
    }
    plan = httpx.post(f"{cluster.urls[0]}/query/aql", json=body).json()["plan"]
    assert [node["type"] for node in plan["nodes"]][:1] == ["VectorNearest"]


def test_equal_distances_come_in_pk_order_everywhere(
    node: NodeProcess, cluster: LocalCluster
) -> None:
    collection = f"tie{uuid.uuid4().hex[:8]}"
    same, other = [1.0] + [0.0] * (DIMENSION - 1), [0.0] * (DIMENSION - 1) + [1.0]
    pks = ["k5", "k1", "k9", "k3", "k7", "k2"]
    items = [{"pk": pk, "vector": same} for pk in pks]
    items += [{"pk": f"z{i}", "vector": other} for i in range(20)]
    with ThemisClient(node.url) as single, ThemisClient(cluster.urls) as sharded:
        answers = []
        for client in (single, sharded):
            assert client.vector_insert(items, collection=collection)["inserted"] == 26
            answers.append(_pks(client.vector_search(same, 4, collection=collection)))
    assert answers == [["k1", "k2", "k3", "k5"]] * 2


def test_a_collection_on_fewer_shards_than_the_cluster_is_searched(
    cluster: LocalCluster,
) -> None:
    collection = f"few{uuid.uuid4().hex[:8]}"
    with ThemisClient(endpoints=cluster.urls) as client:
        with pytest.raises(NotFoundError, match="no vector index"):
            client.vector_search([1.0, 0.0], top_k=3, collection=collection)
        client.vector_insert(
            [{"pk": "only", "vector": [1.0, 0.0]}], collection=collection
        )
        hits = client.vector_search([1.0, 0.0], top_k=3, collection=collection)
    assert isinstance(hits, list)
    assert [hit["pk"] for hit in hits] == ["only"]


def test_refused_items_are_reported_with_their_reason(loaded: Loaded) -> None:
    collection = f"refused{uuid.uuid4().hex[:8]}"
    items = [
        {"pk": "fits", "vector": [0.5, 0.5, 0.5]},
        {"pk": "wrong-size", "vector": [1.0, 2.0]},
    ]
    for client in (loaded.single, loaded.sharded):
        client.vector_insert([items[0]], collection=collection)
        summary = client.vector_insert(items, collection=collection)
        assert summary["inserted"] == 1
        assert summary["error_count"] == 1
        [error] = summary["errors"]
        assert error["pk"] == "wrong-size"
        assert "dimension" in error["message"]
