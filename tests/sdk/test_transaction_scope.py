"""Every call of a transaction goes to its node with its header, whatever it does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Generator
from typing import Any

import httpx
import pytest

from tests.sdk.fakes import FakeCluster, error
from themis import AsyncThemisClient, ConflictError, ThemisError
from themis._core.effects import LOAD_TOPOLOGY, Call, Effect, Outcome, Parallel
from themis._core.pinned import TRANSACTION_SHARD, pinned
from themis._core.protocol import Scope
from themis._core.retry import RetryPolicy
from themis._core.topology import Topology

TXN = "42"


def _answers(request: httpx.Request) -> httpx.Response | None:
    """What the transaction's node answers for the routes the fake lacks."""
    path = request.url.path
    body: Any = json.loads(request.content) if request.content else None
    if path == "/transaction/begin":
        return httpx.Response(200, json={"transaction_id": 42, "status": "active"})
    if path.startswith("/transaction/"):
        return httpx.Response(200, json={"transaction_id": 42})
    if path == "/graph/neighbors":
        found: dict[str, list[dict[str, str]]] = {v: [] for v in body["vertices"]}
        if "people:a" in found:
            found["people:a"] = [
                {"edge": "graph.default.edges:e1", "vertex": "people:b"}
            ]
        return httpx.Response(200, json={"neighbors": found})
    if path == "/graph/edge":
        return httpx.Response(201, json={"id": "graph.default.edges:e1"})
    if path.startswith("/graph/edge/"):
        return httpx.Response(200, json={"deleted": True})
    if path == "/vector/batch_insert":
        count = len(body["items"])
        return httpx.Response(200, json={"inserted": count, "errors": []})
    if path == "/vector/search":
        hit = {"pk": "v1", "distance": 0.0, "score": 1.0}
        return httpx.Response(200, json={"results": [hit], "k": body["k"]})
    return None


def _cluster() -> tuple[FakeCluster, list[httpx.Request]]:
    cluster = FakeCluster(3)
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/_admin/cluster/topology":
            return None
        seen.append(request)
        return _answers(request)

    cluster.override = record
    return cluster, seen


def test_every_call_of_a_transaction_goes_to_its_node_with_its_header() -> None:
    cluster, seen = _cluster()
    docs = {f"k{i:02d}": {"i": i} for i in range(12)}
    with cluster.client() as client, client.begin_transaction() as txn:
        assert txn.batch_put("relational", "users", docs).succeeded == list(docs)
        assert txn.batch_get("relational", "users", list(docs)).found == docs
        assert txn.batch_delete("relational", "users", ["k00"]).succeeded == ["k00"]
        assert txn.add_edge("people:a", "people:b") == "graph.default.edges:e1"
        assert txn.delete_edge("graph.default.edges:e1") is True
        assert txn.graph_traverse("people:a", 2) == ["people:a", "people:b"]
        path = txn.shortest_path("people:a", "people:b")
        assert path["vertices"] == ["people:a", "people:b"]
        items = [{"pk": "v1", "vector": [1.0, 0.0]}]
        assert txn.vector_insert(items)["inserted"] == 1
        hits = txn.vector_search([1.0, 0.0], top_k=3)
        assert isinstance(hits, list)
        assert [hit["pk"] for hit in hits] == ["v1"]
    work = seen[1:-1]
    assert {request.url.host for request in seen} == {"node0"}
    assert all(request.headers.get("x-transaction-id") == TXN for request in work)
    paths = [request.url.path for request in work]
    # Searches go by neighbours, which the transaction's node answers cluster-wide.
    assert "/graph/traverse" not in paths
    assert "/graph/shortest_path" not in paths
    assert paths.count("/graph/neighbors") >= 2
    assert paths.count("/graph/edge/graph.default.edges:e1") == 1
    assert paths.count("/batch/put") == 1
    assert seen[-1].url.path == "/transaction/commit"


def test_a_refusal_inside_a_transaction_raises_as_outside() -> None:
    cluster, _ = _cluster()

    def refuse(request: httpx.Request) -> httpx.Response | None:
        if request.url.path in ("/graph/edge", "/batch/put"):
            return error(409, "key reserved by a prepared transaction")
        return _answers(request)

    client = cluster.client()
    txn = client.begin_transaction()
    cluster.override = refuse
    with pytest.raises(ConflictError, match="reserved"):
        txn.add_edge("people:a", "people:b")
    failed = txn.batch_put("relational", "users", {"a": {}})
    assert failed.succeeded == []
    assert list(failed.failed) == ["a"]
    assert "reserved" in failed.failed["a"]


def test_an_ended_transaction_refuses_every_call() -> None:
    cluster, seen = _cluster()
    txn = cluster.client().begin_transaction()
    txn.rollback()
    before = len(seen)
    calls: list[Callable[[], object]] = [
        lambda: txn.batch_get("relational", "users", ["a"]),
        lambda: txn.add_edge("people:a", "people:b"),
        lambda: txn.graph_traverse("people:a"),
        lambda: txn.vector_search([1.0, 0.0]),
        lambda: txn.vector_insert([{"pk": "v", "vector": [1.0]}]),
    ]
    for call in calls:
        with pytest.raises(ThemisError, match="transaction 42 is rolled_back"):
            call()
    assert len(seen) == before


def test_the_async_transaction_makes_the_same_calls() -> None:
    cluster, seen = _cluster()

    async def scenario() -> None:
        transport = httpx.MockTransport(cluster.handle)
        async with (
            AsyncThemisClient(
                cluster.endpoints, transport=transport, _retry=RetryPolicy()
            ) as client,
            await client.begin_transaction() as txn,
        ):
            await txn.batch_put("relational", "users", {"a": {"v": 1}})
            found = await txn.batch_get("relational", "users", ["a"])
            assert found.found == {"a": {"v": 1}}
            assert await txn.graph_traverse("people:a", 1) == [
                "people:a",
                "people:b",
            ]
            assert await txn.delete_edge("graph.default.edges:e1") is True
            hits = await txn.vector_search([1.0, 0.0], top_k=1)
            assert isinstance(hits, list)
            assert hits[0]["pk"] == "v1"

    asyncio.run(scenario())
    work = seen[1:-1]
    assert {request.url.host for request in seen} == {"node0"}
    assert all(request.headers.get("x-transaction-id") == TXN for request in work)
    assert "/graph/traverse" not in [request.url.path for request in work]


Driven = Generator[Effect, Any, str]


def test_pinned_forwards_values_failures_and_nested_steps() -> None:
    scope = Scope("http://coordinator", {"X-Transaction-Id": "7"}, 7)
    received: list[Any] = []

    def inner(name: str) -> Driven:
        topology = yield LOAD_TOPOLOGY
        received.append(topology)
        try:
            yield Call("GET", f"/{name}", shard_id="s9", headers={"A": "1"})
        except ThemisError as exc:
            received.append(str(exc))
        outcomes = yield Parallel([child()])
        received.append(outcomes)
        return name

    def child() -> Driven:
        reply = yield Call("POST", "/child", route_key="urn:x")
        return str(reply)

    op = pinned(inner("outer"), scope)
    first = op.send(None)
    assert isinstance(received[0], Topology)
    assert received[0].shard_ids == [TRANSACTION_SHARD]
    assert received[0].shards[0].endpoint == "http://coordinator"
    assert isinstance(first, Call)
    assert (first.endpoint, first.shard_id, first.route_key) == (
        "http://coordinator",
        None,
        None,
    )
    assert first.headers == {"A": "1", "X-Transaction-Id": "7"}
    step = op.throw(ThemisError("refused"))
    assert received[1] == "refused"
    assert isinstance(step, Parallel)
    (nested,) = step.ops
    child_call = nested.send(None)
    assert isinstance(child_call, Call)
    assert child_call.endpoint == "http://coordinator"
    assert child_call.route_key is None
    with pytest.raises(StopIteration) as done:
        nested.send("answer")
    assert done.value.value == "answer"
    with pytest.raises(StopIteration) as finished:
        op.send([Outcome(value="answer")])
    assert finished.value.value == "outer"
    assert received[2] == [Outcome(value="answer")]
