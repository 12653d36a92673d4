from __future__ import annotations

import json

import httpx
import pytest

from themis import QueryResult
from themis._core.query import NearestFirst, ShardPage, find_urn

from .fakes import FakeCluster


def _seed(cluster: FakeCluster, count: int) -> None:
    client = cluster.client()
    client.batch_put("relational", "users", {str(i): {"i": i} for i in range(count)})
    cluster.requests.clear()


def test_find_urn() -> None:
    aql = 'FOR u IN users FILTER u._urn == "urn:themis:relational:default:users:7"'
    assert find_urn(aql) == "urn:themis:relational:default:users:7"
    assert find_urn("FOR u IN users RETURN u") is None


def test_urn_query_goes_to_owner_only() -> None:
    cluster = FakeCluster(3)
    _seed(cluster, 6)
    owner = cluster.holder("relational.default.users:4")
    aql = "FOR u IN users FILTER u._urn == 'urn:themis:relational:default:users:4'"
    result = cluster.client().query(aql)
    assert [p for p in cluster.paths() if "aql" in p] == [
        f"POST {httpx.URL(owner.endpoint).host}/query/aql"
    ]
    assert {"i": 4} in result.items


def test_cluster_query_goes_to_one_coordinator_with_namespace() -> None:
    cluster = FakeCluster(3)
    _seed(cluster, 9)
    result = cluster.client().query("FOR u IN users RETURN u", params={"x": 1})
    assert sorted(row["i"] for row in result.items) == list(range(9))
    assert result.entities == result.items
    assert result.count == 9 and not result.has_more and result.next_cursor is None
    bodies = [
        json.loads(r.content) for r in cluster.requests if r.url.path == "/query/aql"
    ]
    assert len(bodies) == 1
    assert bodies[0] == {
        "query": "FOR u IN users RETURN u",
        "namespace": "default",
        "params": {"x": 1},
        "use_cursor": False,
        "cursor": None,
        "batch_size": None,
    }


def test_single_shard_passes_result_through() -> None:
    cluster = FakeCluster(1)
    _seed(cluster, 3)
    page = cluster.client().query(
        "FOR u IN users RETURN u", use_cursor=True, batch_size=2
    )
    assert page.next_cursor == "2" and page.has_more
    assert page.raw == {
        "items": page.items,
        "has_more": True,
        "batch_size": 2,
        "next_cursor": "2",
    }


def test_cursor_pages_return_to_their_coordinator() -> None:
    cluster = FakeCluster(3)
    _seed(cluster, 20)
    client = cluster.client()
    aql = "FOR u IN users RETURN u"
    page = client.query(aql, use_cursor=True, batch_size=2)
    rows = list(page.items)
    pages = 1
    while page.has_more:
        assert page.next_cursor is not None
        assert page.next_cursor.startswith("c1.")
        page = client.query(aql, use_cursor=True, cursor=page.next_cursor)
        rows.extend(page.items)
        pages += 1
        assert pages < 50
    hosts = {r.url.host for r in cluster.requests if r.url.path == "/query/aql"}
    assert len(hosts) == 1
    assert page.next_cursor is None
    assert sorted(row["i"] for row in rows) == list(range(20))
    assert len(rows) == 20


def test_query_iter_pages_for_the_user() -> None:
    cluster = FakeCluster(2)
    _seed(cluster, 7)
    rows = list(cluster.client().query_iter("FOR u IN users RETURN u", batch_size=2))
    assert sorted(row["i"] for row in rows) == list(range(7))


def test_foreign_cursor_is_rejected() -> None:
    cluster = FakeCluster(2)
    with pytest.raises(
        ValueError, match="expected a cursor returned by an earlier page"
    ):
        cluster.client().query("FOR u IN users RETURN u", cursor="not-a-token")


def test_nearest_first_merges_by_ascending_distance() -> None:
    pages = [
        ShardPage(
            "a",
            QueryResult(
                items=[{"pk": "a1", "distance": 0.5}, {"pk": "a2", "distance": 3.0}]
            ),
        ),
        ShardPage(
            "b",
            QueryResult(
                items=[{"pk": "b1", "distance": 0.1}, {"pk": "b2", "distance": 1.0}]
            ),
        ),
    ]
    merged = NearestFirst(3).merge(pages)
    assert [hit["pk"] for hit in merged] == ["b1", "a1", "b2"]


def test_vector_search_keeps_global_top_k() -> None:
    cluster = FakeCluster(3)
    for i, node in enumerate(cluster.nodes.values()):
        node.vectors = {f"v{i}a": [float(i), 0.0], f"v{i}b": [float(i) + 10, 0.0]}
    hits = cluster.client().vector_search([0.0, 0.0], top_k=3, metadata_filter={"k": 1})
    assert isinstance(hits, list)
    assert [hit["pk"] for hit in hits] == ["v0a", "v1a", "v2a"]
    body = json.loads(cluster.requests[-1].content)
    assert body == {
        "vector": [0.0, 0.0],
        "k": 3,
        "filter": {"k": 1},
        "namespace": "default",
        "use_cursor": False,
    }
