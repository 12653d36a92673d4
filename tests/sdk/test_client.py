from __future__ import annotations

import json
import re
import threading
from typing import Any

import httpx
import pytest

from themis import ConflictError, NotFoundError, ThemisClient, ThemisError
from themis._core.retry import RetryPolicy

from .fakes import FakeCluster, error


class _Threaded(httpx.BaseTransport):
    """A non-mock transport, so batches run on worker threads."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.threads: set[int] = set()
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        with self.lock:
            self.threads.add(threading.get_ident())
            return self.cluster.handle(request)


def test_entity_round_trip() -> None:
    cluster = FakeCluster(3)
    with cluster.client() as client:
        doc = {"name": "Alice", "tags": ["a"], "nested": {"n": 10**20}, "u": "ü"}
        assert client.put("relational", "users", "u1", doc) is True
        assert client.get("relational", "users", "u1") == doc
        assert client.delete("relational", "users", "u1") is True
        assert client.get("relational", "users", "u1") is None
        assert client.delete("relational", "users", "u1") is False
    put = next(r for r in cluster.requests if r.method == "PUT")
    assert put.url.path == "/entities/relational.default.users:u1"
    assert json.loads(json.loads(put.content)["blob"]) == doc


def test_namespace_and_token_are_sent() -> None:
    cluster = FakeCluster(1)
    client = cluster.client(namespace="tenant", token="s3cret", headers={"X-App": "t"})
    client.put("relational", "users", "1", {})
    request = cluster.requests[-1]
    assert request.url.path == "/entities/relational.tenant.users:1"
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.headers["x-app"] == "t"


def test_health_uses_first_bootstrap_without_topology() -> None:
    cluster = FakeCluster(2)
    assert cluster.client().health() == {"status": "healthy", "shard_id": "s0"}
    assert cluster.paths() == ["GET node0/health"]


def test_http_errors_surface_as_named_branches() -> None:
    cluster = FakeCluster(1)
    cluster.override = lambda request: (
        error(409, "write-write conflict") if request.method == "PUT" else None
    )
    with pytest.raises(ConflictError) as info:
        cluster.client().put("relational", "users", "1", {})
    assert info.value.message == "write-write conflict"
    assert isinstance(info.value, httpx.HTTPStatusError)


def test_graph_calls_go_to_traverse_on_one_shard() -> None:
    cluster = FakeCluster(1)
    client = cluster.client()
    client.put("graph", "people", "alice", {})
    owner = cluster.holder("graph.default.people:alice")
    visited = client.graph_traverse("graph.default.people:alice", 2, "knows")
    assert visited == ["graph.default.people:alice"]
    request = cluster.requests[-1]
    assert request.url.host in owner.endpoint
    assert json.loads(request.content) == {
        "start_vertex": "graph.default.people:alice",
        "max_depth": 2,
        "min_depth": 0,
        "direction": "outbound",
        "edge_type": "knows",
    }


def test_edges_and_shortest_path() -> None:
    cluster = FakeCluster(2)
    bodies: list[tuple[str, Any]] = []

    def graph(request: httpx.Request) -> httpx.Response | None:
        if not request.url.path.startswith("/graph/"):
            return None
        bodies.append((request.url.path, json.loads(request.content or b"null")))
        if request.url.path == "/graph/edge":
            return httpx.Response(201, json={"id": "e1"})
        if request.method == "DELETE":
            return (
                error(404, "Edge not found")
                if "node0" in str(request.url)
                else (httpx.Response(200, json={"success": True}))
            )
        return httpx.Response(
            200, json={"vertices": ["a", "b"], "edges": ["e1"], "distance": 1}
        )

    cluster.override = graph
    client = cluster.client()
    assert (
        client.add_edge("g.default.v:a", "g.default.v:b", edge_type="knows", weight=2.0)
        == "e1"
    )
    key = bodies[0][1].pop("_key")
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    assert bodies[0][1] == {
        "_from": "g.default.v:a",
        "_to": "g.default.v:b",
        "collection": "edges",
        "namespace": "default",
        "_type": "knows",
        "_weight": 2.0,
    }
    assert client.delete_edge("e1") is True
    # One shard sees every edge, so it answers the search itself.
    single = FakeCluster(1)
    single.override = graph
    path = single.client().shortest_path(
        "g.default.v:a", "g.default.v:b", weight_attribute="w"
    )
    assert path["distance"] == 1
    assert bodies[-1][1] == {
        "start": "g.default.v:a",
        "target": "g.default.v:b",
        "direction": "outbound",
        "edge_type": None,
        "weight_attribute": "w",
    }


def test_bad_arguments_raise_value_error() -> None:
    client = FakeCluster(1).client()
    with pytest.raises(ValueError, match="direction must be one of"):
        client.graph_traverse("a:b", direction="sideways")
    with pytest.raises(ValueError, match="uuid must not contain ':'"):
        client.get("relational", "users", "a:b")
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        client.vector_search([1.0], top_k=0)


def test_vector_insert_groups_by_owner() -> None:
    cluster = FakeCluster(3)
    seen: list[Any] = []

    def insert(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/vector/batch_insert":
            return None
        body = json.loads(request.content)
        seen.append(body)
        return httpx.Response(200, json={"inserted": len(body["items"]), "errors": []})

    cluster.override = insert
    items = [{"pk": f"docs:{i}", "vector": [i, 0]} for i in range(12)]
    summary = cluster.client().vector_insert(items, collection="docs")
    assert summary == {"inserted": 12, "errors": [], "error_count": 0}
    assert 1 < len(seen) <= 3
    assert all(body["collection"] == "docs" for body in seen)
    assert all(body["vector_field"] == "embedding" for body in seen)


def test_vector_insert_reports_each_refused_item() -> None:
    cluster = FakeCluster(2)

    def insert(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/vector/batch_insert":
            return None
        items = json.loads(request.content)["items"]
        refused = [{"pk": item["pk"], "message": "bad"} for item in items[1:]]
        body = {"inserted": 1, "errors": len(refused), "error_details": refused}
        return httpx.Response(200, json=body)

    cluster.override = insert
    items = [{"pk": f"docs:{i}", "vector": [i, 0]} for i in range(8)]
    summary = cluster.client().vector_insert(items, collection="docs")
    assert summary["inserted"] + summary["error_count"] == 8
    assert len(summary["errors"]) == summary["error_count"] > 0
    assert {error["message"] for error in summary["errors"]} == {"bad"}


def test_batches_run_in_parallel_with_a_real_transport() -> None:
    cluster = FakeCluster(3)
    transport = _Threaded(cluster)
    client = ThemisClient(
        cluster.endpoints, transport=transport, _retry=RetryPolicy(), max_workers=3
    )
    docs = {str(i): {"i": i} for i in range(30)}
    assert sorted(client.batch_put("relational", "users", docs).succeeded) == sorted(
        docs
    )
    assert len(transport.threads) > 1


def _tx_cluster(commit_status: int = 200) -> tuple[FakeCluster, list[httpx.Request]]:
    cluster = FakeCluster(2)
    seen: list[httpx.Request] = []

    def tx(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/_admin/cluster/topology":
            return None
        seen.append(request)
        path = request.url.path
        if path == "/transaction/begin":
            return httpx.Response(200, json={"transaction_id": 42, "status": "active"})
        if path == "/transaction/commit" and commit_status != 200:
            return error(commit_status, "commit failed")
        if path.startswith("/transaction/"):
            return httpx.Response(200, json={"transaction_id": 42})
        return None

    cluster.override = tx
    return cluster, seen


def test_transaction_sends_header_and_commits() -> None:
    cluster, seen = _tx_cluster()
    client = cluster.client()
    with client.begin_transaction("read_committed") as tx:
        assert tx.id == 42
        tx.put("relational", "users", "1", {"a": 1})
        assert tx.get("relational", "users", "1") == {"a": 1}
        tx.query("FOR u IN users RETURN u")
    assert json.loads(seen[0].content) == {"isolation": "read_committed"}
    assert [r.headers.get("x-transaction-id") for r in seen[1:4]] == ["42"] * 3
    assert {r.url.host for r in seen} == {"node0"}
    assert seen[-1].url.path == "/transaction/commit"
    assert json.loads(seen[-1].content) == {"transaction_id": 42}
    with pytest.raises(ThemisError, match="transaction 42 is committed"):
        tx.get("relational", "users", "1")


def test_transaction_rolls_back_on_exception() -> None:
    cluster, seen = _tx_cluster()
    with pytest.raises(RuntimeError), cluster.client().begin_transaction() as tx:
        tx.delete("relational", "users", "1")
        raise RuntimeError("boom")
    assert seen[-1].url.path == "/transaction/rollback"


def test_commit_is_never_retried() -> None:
    cluster, seen = _tx_cluster(commit_status=500)
    tx = cluster.client().begin_transaction()
    with pytest.raises(httpx.HTTPStatusError):
        tx.commit()
    assert [r.url.path for r in seen].count("/transaction/commit") == 1


def test_not_found_error_for_unaccepted_404() -> None:
    cluster = FakeCluster(1)
    cluster.override = lambda request: error(404, "Endpoint not found")
    with pytest.raises(NotFoundError, match="Endpoint not found"):
        cluster.client().graph_traverse("t:1")
