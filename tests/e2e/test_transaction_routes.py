"""Graph and vector routes inside a transaction, on one node and on a 3-shard cluster.

Requests name the transaction with ``X-Transaction-Id`` on the node it began on. Its
writes stay invisible to everyone else until the commit; its own reads see them on
every shard; definitions sent inside it are refused.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from themis.server.launcher import NodeProcess

HEADER = "X-Transaction-Id"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=15.0) as client:
        yield client


class Txn:
    """A transaction begun over HTTP on the first node."""

    def __init__(self, http: httpx.Client, url: str, isolation: str) -> None:
        self.http, self.url = http, url
        answer = http.post(f"{url}/transaction/begin", json={"isolation": isolation})
        assert answer.status_code == 200, answer.text
        self.ident = answer.json()["transaction_id"]
        self.headers = {HEADER: str(self.ident)}

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(f"{self.url}{path}", json=body, headers=self.headers)

    def end(self, action: str) -> None:
        answer = self.http.post(
            f"{self.url}/transaction/{action}", json={"transaction_id": self.ident}
        )
        assert answer.status_code == 200, answer.text


def _neighbors(
    http: httpx.Client, urls: list[str], vertex: str, txn: Txn | None = None
) -> list[str]:
    """The edge ids at ``vertex`` over the cluster: in ``txn`` from its node alone,
    otherwise asked of every node."""
    body = {"vertices": [vertex], "direction": "any"}
    if txn is not None:
        answers = [txn.post("/graph/neighbors", body)]
    else:
        answers = [http.post(f"{url}/graph/neighbors", json=body) for url in urls]
    edges: list[str] = []
    for answer in answers:
        assert answer.status_code == 200, answer.text
        edges += [item["edge"] for item in answer.json()["neighbors"][vertex]]
    return sorted(edges)


def _edge(txn: Txn, source: str, target: str, key: str) -> str:
    body = {"_from": source, "_to": target, "_key": key, "_type": "knows"}
    answer = txn.post("/graph/edge", body)
    assert answer.status_code == 201, answer.text
    edge_id: str = answer.json()["_id"]
    return edge_id


@pytest.mark.parametrize("isolation", ["read_committed", "snapshot"])
def test_edges_written_in_a_transaction_show_only_inside_it_until_commit(
    http: httpx.Client, urls: list[str], isolation: str
) -> None:
    hub = f"people:{uuid.uuid4().hex}"
    txn = Txn(http, urls[0], isolation)
    # Enough edges that, on the cluster, the coordinator and its parts hold some.
    ids = sorted(
        _edge(txn, hub, f"people:p{i}", f"e{uuid.uuid4().hex}") for i in range(8)
    )
    assert _neighbors(http, urls, hub, txn) == ids
    assert _neighbors(http, urls, hub) == []
    txn.end("commit")
    assert _neighbors(http, urls, hub) == ids


def test_a_rolled_back_transaction_leaves_no_edge(
    http: httpx.Client, urls: list[str]
) -> None:
    hub = f"people:{uuid.uuid4().hex}"
    txn = Txn(http, urls[0], "read_committed")
    for i in range(6):
        _edge(txn, hub, f"people:p{i}", f"e{uuid.uuid4().hex}")
    txn.end("rollback")
    assert _neighbors(http, urls, hub) == []


def test_an_edge_deleted_in_a_transaction_stays_for_others_until_commit(
    http: httpx.Client, urls: list[str]
) -> None:
    hub = f"people:{uuid.uuid4().hex}"
    setup = Txn(http, urls[0], "read_committed")
    ids = sorted(
        _edge(setup, hub, f"people:p{i}", f"e{uuid.uuid4().hex}") for i in range(4)
    )
    setup.end("commit")
    txn = Txn(http, urls[0], "snapshot")
    gone = txn.http.delete(f"{txn.url}/graph/edge/{ids[0]}", headers=txn.headers)
    assert gone.status_code == 200, gone.text
    again = txn.http.delete(f"{txn.url}/graph/edge/{ids[0]}", headers=txn.headers)
    assert again.status_code == 404
    assert _neighbors(http, urls, hub, txn) == ids[1:]
    assert _neighbors(http, urls, hub) == ids
    txn.end("commit")
    assert _neighbors(http, urls, hub) == ids[1:]


def test_searches_in_a_transaction_see_its_edges_on_every_shard(
    http: httpx.Client, urls: list[str]
) -> None:
    start = f"people:{uuid.uuid4().hex}"
    txn = Txn(http, urls[0], "snapshot")
    chain = [start, *(f"people:{uuid.uuid4().hex}" for _ in range(5))]
    # Random edge keys spread the chain's edges over the cluster's shards.
    edge_ids = []
    for source, target in itertools.pairwise(chain):
        body = {"_from": source, "_to": target, "_key": uuid.uuid4().hex, "cost": 2}
        answer = txn.post("/graph/edge", body)
        assert answer.status_code == 201, answer.text
        edge_ids.append(answer.json()["_id"])
    body = {"start": start, "max_depth": 9, "include": ["edges"]}
    inside = txn.post("/graph/traverse", body)
    assert inside.status_code == 200, inside.text
    assert inside.json()["visited"] == chain
    assert [edge["_id"] for edge in inside.json()["edges"]] == edge_ids
    assert all(edge["cost"] == 2 for edge in inside.json()["edges"])
    path = txn.post(
        "/graph/shortest_path",
        {"start": start, "target": chain[-1], "weight_attribute": "cost"},
    )
    assert path.status_code == 200, path.text
    assert path.json()["vertices"] == chain
    assert path.json()["distance"] == 2 * len(edge_ids)
    outside = http.post(f"{urls[0]}/graph/traverse", json=body)
    assert outside.json()["visited"] == [start]
    txn.end("rollback")


def test_an_aql_traversal_in_a_transaction_sees_its_edges(
    http: httpx.Client, urls: list[str]
) -> None:
    people = f"people{uuid.uuid4().hex[:8]}"
    txn = Txn(http, urls[0], "read_committed")
    for name in ("a", "b"):
        put = txn.http.put(
            f"{txn.url}/entities/{people}:{name}",
            json={"blob": json.dumps({"name": name})},
            headers=txn.headers,
        )
        assert put.status_code == 201, put.text
    _edge(txn, f"{people}:a", f"{people}:b", f"e{uuid.uuid4().hex}")
    query = f"FOR v IN 1..1 OUTBOUND '{people}:a' edges RETURN v.name"
    inside = txn.post("/query/aql", {"query": query})
    assert inside.status_code == 200, inside.text
    assert inside.json()["entities"] == ["b"]
    txn.end("rollback")


def _vectors(collection: str, count: int) -> list[dict[str, Any]]:
    return [
        {"pk": f"v{i:02d}", "vector": [1.0, float(i)], "fields": {"even": i % 2 == 0}}
        for i in range(count)
    ]


def _search(
    http: httpx.Client, url: str, collection: str, txn: Txn | None = None, **extra: Any
) -> list[str] | None:
    body = {"collection": collection, "vector": [1.0, 0.0], "k": 50, **extra}
    answer = (
        txn.post("/vector/search", body)
        if txn is not None
        else http.post(f"{url}/vector/search", json=body)
    )
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    return [hit["pk"] for hit in answer.json()["results"]]


def _searched(http: httpx.Client, urls: list[str], collection: str) -> list[str]:
    """What searches outside any transaction find on every node together."""
    found: list[str] = []
    for url in urls:
        found += _search(http, url, collection) or []
    return sorted(found)


@pytest.mark.parametrize("isolation", ["read_committed", "snapshot"])
def test_vectors_inserted_in_a_transaction_are_found_only_inside_it_until_commit(
    http: httpx.Client, urls: list[str], isolation: str
) -> None:
    collection = f"vec{uuid.uuid4().hex[:8]}"
    items = _vectors(collection, 12)
    pks = [item["pk"] for item in items]
    txn = Txn(http, urls[0], isolation)
    answer = txn.post(
        "/vector/batch_insert", {"collection": collection, "items": items}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["inserted"] == 12
    # Nearest to [1, 0] by cosine: the smaller the second coordinate, the nearer.
    assert _search(http, urls[0], collection, txn) == pks
    assert _search(http, urls[0], collection, txn, filter={"even": True}) == pks[::2]
    assert _searched(http, urls, collection) == []
    txn.end("commit")
    assert _searched(http, urls, collection) == pks


def test_a_transaction_search_ranks_its_overwrites_and_deletes(
    http: httpx.Client, urls: list[str]
) -> None:
    collection = f"vec{uuid.uuid4().hex[:8]}"
    setup = Txn(http, urls[0], "read_committed")
    items = _vectors(collection, 6)
    assert setup.post(
        "/vector/batch_insert", {"collection": collection, "items": items}
    )
    setup.end("commit")
    txn = Txn(http, urls[0], "read_committed")
    gone = txn.http.delete(
        f"{txn.url}/entities/vector.default.{collection}:v00", headers=txn.headers
    )
    assert gone.status_code == 200, gone.text
    moved = {"pk": "v05", "vector": [1.0, -100.0]}
    answer = txn.post(
        "/vector/batch_insert", {"collection": collection, "items": [moved]}
    )
    assert answer.status_code == 200, answer.text
    # v05 now points away from [1, 0] the most; v00 is gone.
    assert _search(http, urls[0], collection, txn) == [
        "v01",
        "v02",
        "v03",
        "v04",
        "v05",
    ]
    assert _searched(http, urls, collection) == [f"v{i:02d}" for i in range(6)]
    txn.end("rollback")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/index/create", {"table": "people", "column": "age"}),
        ("POST", "/vector/index", {"collection": "vx", "dimension": 2}),
        ("PUT", "/vector/index/config", {"collection": "vx", "efSearch": 10}),
        ("POST", "/graph", {"name": "g", "edge_definitions": []}),
        ("DELETE", "/graph/g", None),
    ],
)
def test_definitions_inside_a_transaction_are_refused(
    http: httpx.Client, node: NodeProcess, method: str, path: str, body: Any
) -> None:
    txn = Txn(http, node.url, "read_committed")
    answer = http.request(method, f"{node.url}{path}", json=body, headers=txn.headers)
    assert answer.status_code == 400, answer.text
    message = answer.json()["message"]
    assert "does not take part in transactions" in message
    assert str(txn.ident) in message
    txn.end("rollback")


@pytest.mark.parametrize("isolation", ["read_committed", "snapshot"])
def test_a_transaction_searches_a_collection_that_some_shards_do_not_hold(
    http: httpx.Client, urls: list[str], isolation: str
) -> None:
    collection = f"vec{uuid.uuid4().hex[:8]}"
    txn = Txn(http, urls[0], isolation)
    assert _search(http, urls[0], collection, txn) is None
    one = {"collection": collection, "items": [{"pk": "only", "vector": [0.0, 1.0]}]}
    assert txn.post("/vector/batch_insert", one).status_code == 200
    assert _search(http, urls[0], collection, txn) == ["only"]
    wrong = txn.post("/vector/search", {"collection": collection, "vector": [1.0]})
    assert wrong.status_code == 400, wrong.text
    assert "dimension" in wrong.json()["message"]
    txn.end("rollback")
