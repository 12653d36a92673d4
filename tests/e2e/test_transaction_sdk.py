"""The SDK's transactions on real nodes: batches, graphs and vectors inside them.

Each test runs on one node and on a 3-shard cluster. What a transaction writes is
seen by its own calls on every shard, by nobody else until it commits, and by nobody
at all once it rolls back.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from themis import AsyncThemisClient, ThemisClient


@pytest.fixture
def client(urls: list[str]) -> Iterator[ThemisClient]:
    with ThemisClient(endpoints=urls) as sdk:
        yield sdk


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def test_batches_in_a_transaction_are_private_until_commit(
    client: ThemisClient,
) -> None:
    collection = _name("tb")
    client.batch_put("relational", collection, {"old": {"v": 0}})
    docs = {f"k{i:02d}": {"v": i} for i in range(20)}
    with client.begin_transaction("read_committed") as txn:
        assert txn.batch_put("relational", collection, docs).succeeded == list(docs)
        assert txn.batch_delete("relational", collection, ["old"]).succeeded == ["old"]
        seen = txn.batch_get("relational", collection, [*docs, "old"])
        assert seen.found == docs
        assert seen.missing == ["old"]
        outside = client.batch_get("relational", collection, [*docs, "old"])
        assert outside.found == {"old": {"v": 0}}
    after = client.batch_get("relational", collection, [*docs, "old"])
    assert after.found == docs
    assert after.missing == ["old"]


def test_a_graph_built_in_a_transaction_is_searched_inside_it(
    client: ThemisClient,
) -> None:
    people = _name("people")
    a, b, c, d = (f"{people}:{name}" for name in "abcd")
    with client.begin_transaction("snapshot") as txn:
        txn.add_edge(a, b, edge_type="knows")
        txn.add_edge(b, c, edge_type="knows")
        doomed = txn.add_edge(a, d, edge_type="knows")
        txn.add_edge(c, d, edge_type="likes", attributes={"cost": 5})
        assert txn.delete_edge(doomed) is True
        assert txn.graph_traverse(a, 3) == [a, b, c, d]
        assert txn.graph_traverse(a, 3, edge_type="knows") == [a, b, c]
        path = txn.shortest_path(a, d, weight_attribute="cost")
        assert path["vertices"] == [a, b, c, d]
        assert path["distance"] == 7
        assert client.graph_traverse(a, 3) == [a]
    assert client.graph_traverse(a, 3) == [a, b, c, d]
    assert client.shortest_path(a, d)["vertices"] == [a, b, c, d]


def test_a_rolled_back_graph_leaves_nothing(client: ThemisClient) -> None:
    people = _name("people")
    txn = client.begin_transaction()
    for i in range(6):
        txn.add_edge(f"{people}:hub", f"{people}:{i}")
    assert len(txn.graph_traverse(f"{people}:hub", 1)) == 7
    txn.rollback()
    assert client.graph_traverse(f"{people}:hub", 1) == [f"{people}:hub"]


@pytest.mark.parametrize("isolation", ["read_committed", "snapshot"])
def test_vectors_in_a_transaction_are_searched_inside_it(
    client: ThemisClient, isolation: str
) -> None:
    collection = _name("vec")
    items = [
        {"pk": f"v{i:02d}", "vector": [1.0, float(i)], "fields": {"even": i % 2 == 0}}
        for i in range(10)
    ]
    pks = [item["pk"] for item in items]
    with client.begin_transaction(isolation) as txn:
        assert txn.vector_insert(items, collection=collection)["inserted"] == 10
        hits = txn.vector_search([1.0, 0.0], top_k=10, collection=collection)
        assert isinstance(hits, list)
        assert [hit["pk"] for hit in hits] == pks
        even = txn.vector_search(
            [1.0, 0.0], top_k=3, metadata_filter={"even": True}, collection=collection
        )
        assert isinstance(even, list)
        assert [hit["pk"] for hit in even] == ["v00", "v02", "v04"]
        page = txn.vector_search(
            [1.0, 0.0], top_k=10, collection=collection, use_cursor=True, batch_size=4
        )
        assert not isinstance(page, list)
        assert [hit["pk"] for hit in page.items] == pks[:4]
        # The index is defined at once, and stays empty until the commit.
        assert client.vector_search([1.0, 0.0], collection=collection) == []
    committed = client.vector_search([1.0, 0.0], top_k=10, collection=collection)
    assert isinstance(committed, list)
    assert [hit["pk"] for hit in committed] == pks


def test_the_async_transaction_reaches_every_shard(urls: list[str]) -> None:
    people, collection = _name("people"), _name("vec")

    async def scenario() -> None:
        async with AsyncThemisClient(urls) as client:
            async with await client.begin_transaction() as txn:
                await txn.add_edge(f"{people}:a", f"{people}:b")
                await txn.vector_insert(
                    [{"pk": "x", "vector": [0.0, 1.0]}], collection=collection
                )
                await txn.batch_put("relational", collection, {"d": {"v": 1}})
                assert await txn.graph_traverse(f"{people}:a", 1) == [
                    f"{people}:a",
                    f"{people}:b",
                ]
                hits = await txn.vector_search([0.0, 1.0], collection=collection)
                assert isinstance(hits, list)
                assert [hit["pk"] for hit in hits] == ["x"]
                found = await txn.batch_get("relational", collection, ["d"])
                assert found.found == {"d": {"v": 1}}
            assert await client.graph_traverse(f"{people}:a", 1) == [
                f"{people}:a",
                f"{people}:b",
            ]

    asyncio.run(scenario())
