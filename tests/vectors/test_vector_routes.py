"""Vector indexes of a real node against exact numpy search."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import orjson
import pytest

from themis.server.launcher import NodeProcess

Array = npt.NDArray[np.float64]
CITIES = ["Berlin", "Paris", "Rome"]


def _collection() -> str:
    return f"v{uuid.uuid4().hex[:10]}"


def _insert(
    http: httpx.Client, collection: str, data: Array, metric: str = "cosine"
) -> list[dict[str, Any]]:
    fields = [{"city": CITIES[i % 3], "age": i % 50} for i in range(len(data))]
    for start in range(0, len(data), 5000):
        items = [
            {"pk": f"p{i:05d}", "vector": data[i].tolist(), "fields": fields[i]}
            for i in range(start, min(start + 5000, len(data)))
        ]
        body = {"collection": collection, "items": items, "metric": metric}
        answer = http.post("/vector/batch_insert", json=body, timeout=60.0).json()
        assert answer["inserted"] == len(items), answer
    return fields


def _exact(data: Array, query: Array, metric: str, k: int) -> tuple[list[str], Array]:
    if metric == "cosine":
        unit = data / np.linalg.norm(data, axis=1, keepdims=True)
        distances = 1 - unit @ (query / np.linalg.norm(query))
    elif metric == "l2":
        distances = ((data - query) ** 2).sum(axis=1)
    else:
        distances = -(data @ query)
    order = np.argsort(distances, kind="stable")[:k]
    return [f"p{i:05d}" for i in order], distances[order]


def _search(http: httpx.Client, collection: str, query: Array, **extra: Any) -> Any:
    body = {"collection": collection, "vector": query.tolist(), **extra}
    response = http.post("/vector/search", json=body)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("metric", ["cosine", "l2", "dot"])
def test_exact_path_matches_numpy(http: httpx.Client, metric: str) -> None:
    rng = np.random.default_rng(1)
    collection, data = _collection(), rng.normal(size=(600, 8))
    _insert(http, collection, data, metric)
    for query in rng.normal(size=(5, 8)):
        pks, distances = _exact(data, query, metric, 10)
        answer = _search(http, collection, query, k=10)
        assert [r["pk"] for r in answer["results"]] == pks
        got = [r["distance"] for r in answer["results"]]
        assert np.allclose(got, distances, atol=1e-4)
        assert answer["k"] == 10 and answer["count"] == 10


def test_config_and_stats(http: httpx.Client) -> None:
    collection = _collection()
    _insert(http, collection, np.ones((3, 4)), "L2")
    params = {"collection": collection}
    stats = http.get("/vector/index/stats", params=params).json()
    assert stats["vectorCount"] == 3
    assert (stats["dimension"], stats["metric"], stats["objectName"]) == (
        4,
        "L2",
        collection,
    )
    update = http.put(
        "/vector/index/config", params=params, json={"efSearch": 128}
    ).json()
    assert update["updated_fields"] == {"efSearch": 128}
    assert http.get("/vector/index/config", params=params).json()["efSearch"] == 128


def test_filters_are_exact(http: httpx.Client) -> None:
    rng = np.random.default_rng(2)
    collection, data = _collection(), rng.normal(size=(900, 8))
    fields = _insert(http, collection, data)
    filters: list[tuple[dict[str, Any], Any]] = [
        ({"city": "Berlin"}, lambda f: f["city"] == "Berlin"),
        ({"city": {"$in": ["Rome", "Paris"]}}, lambda f: f["city"] != "Berlin"),
        ({"age": {"$gte": 18, "$lt": 30}}, lambda f: 18 <= f["age"] < 30),
        (
            {"city": {"$ne": "Rome"}, "age": {"$gt": 40}},
            lambda f: f["city"] != "Rome" and f["age"] > 40,
        ),
        ({"age": {"$lte": 2, "$eq": 2}}, lambda f: f["age"] == 2),
    ]
    query = rng.normal(size=8)
    for spec, keep in filters:
        chosen = np.array([i for i, f in enumerate(fields) if keep(f)])
        pks, _ = _exact(data[chosen], query, "cosine", 10)
        expected = [f"p{chosen[int(pk[1:])]:05d}" for pk in pks]
        answer = _search(http, collection, query, k=10, filter=spec)
        assert [r["pk"] for r in answer["results"]] == expected, spec


def test_overwrite_and_delete_are_reflected(http: httpx.Client) -> None:
    collection = _collection()
    _insert(http, collection, np.eye(4)[:3] + 0.01)
    key = f"vector.default.{collection}:p00000"
    far = {"embedding": [0, 0, 0, 1], "city": "Oslo"}
    http.put(f"/entities/{key}", json={"blob": orjson.dumps(far).decode()})
    answer = _search(http, collection, np.array([0, 0, 0, 1.0]), k=1)
    assert answer["results"][0]["pk"] == "p00000"
    assert answer["results"][0]["score"] == pytest.approx(1.0)

    http.put(f"/entities/{key}", json={"blob": '{"embedding": [1, 2]}'})
    assert _search(http, collection, np.ones(4), k=10)["count"] == 2
    http.delete(f"/entities/vector.default.{collection}:p00001")
    pks = [r["pk"] for r in _search(http, collection, np.ones(4), k=10)["results"]]
    assert pks == ["p00002"]

    plain = {"embedding": [0, 1, 0, 0], "note": "written as a plain document"}
    http.put(f"/entities/{collection}:x1", json={"blob": orjson.dumps(plain).decode()})
    top = _search(
        http, collection, np.array([0, 1.0, 0, 0]), k=1, include_document=True
    )
    assert top["results"][0]["document"]["note"] == "written as a plain document"


def test_cursor_pages_concatenate_to_top_k(http: httpx.Client) -> None:
    rng = np.random.default_rng(3)
    collection, data = _collection(), rng.normal(size=(300, 6))
    _insert(http, collection, data)
    query = rng.normal(size=6)
    full = _search(http, collection, query, k=25)["results"]
    pages: list[Any] = []
    page = _search(http, collection, query, k=25, use_cursor=True, batch_size=10)
    pages += page["items"]
    while page["has_more"]:
        page = _search(
            http, collection, query, k=25, cursor=page["next_cursor"], batch_size=10
        )
        pages += page["items"]
    assert pages == full
    tampered = http.post(
        "/vector/search",
        json={
            "collection": collection,
            "vector": query.tolist(),
            "k": 25,
            "cursor": "10.x",
        },
    )
    assert tampered.status_code == 400
    assert tampered.json()["message"] == (
        "invalid cursor: expected a 'next_cursor' this node issued for the same "
        "search, received '10.x'"
    )


def test_bad_input_messages(http: httpx.Client) -> None:
    collection = _collection()
    _insert(http, collection, np.ones((2, 3)))
    base = {"collection": collection, "vector": [1, 2, 3]}
    cases: list[tuple[dict[str, Any], int, str]] = [
        (
            {**base, "vector": [1, 2]},
            400,
            "invalid 'vector': expected a vector of dimension 3, received 2",
        ),
        (
            {**base, "vector": [1, "a", 3]},
            400,
            "invalid 'vector': expected numbers in the vector, "
            "received str 'a' at position 1",
        ),
        (
            {**base, "vector": []},
            400,
            "invalid 'vector': expected a non-empty array of numbers, received list []",
        ),
        ({**base, "k": 0}, 400, "expected 'k' between 1 and 10000, received 0"),
        ({"collection": collection}, 400, "missing required field 'vector'"),
        (
            {**base, "filter": {"age": {"$regex": "x"}}},
            400,
            "expected filter operators $eq, $ne, $gt, $gte, $lt, $lte, $in "
            "on 'age', received '$regex'",
        ),
        (
            {**base, "collection": "nothing_here"},
            404,
            "no vector index on collection 'nothing_here' in namespace "
            "'default'; create one with POST /vector/index or "
            "POST /vector/batch_insert",
        ),
    ]
    for body, status, message in cases:
        response = http.post("/vector/search", json=body)
        assert (response.status_code, response.json()["message"]) == (status, message)

    insert = http.post(
        "/vector/batch_insert",
        json={
            "collection": collection,
            "items": [{"pk": "a", "vector": [1, 2]}, {"vector": [1, 2, 3]}],
        },
    ).json()
    assert insert["errors"] == 2 and insert["inserted"] == 0
    assert insert["error_details"] == [
        {
            "pk": "a",
            "message": "invalid 'vector' of pk 'a': expected a vector of "
            "dimension 3, received 2",
        },
        {"pk": "#1", "message": "missing required field 'pk'"},
    ]
    conflict = http.post(
        "/vector/index", json={"collection": collection, "dimension": 5}
    )
    assert conflict.status_code == 409


def test_index_rebuilt_after_kill_9(fresh_dir: Path) -> None:
    rng = np.random.default_rng(4)
    data = rng.normal(size=(400, 8))
    node = NodeProcess(fresh_dir).start()
    try:
        with httpx.Client(base_url=node.url, timeout=30.0) as http:
            created = http.post(
                "/vector/index",
                json={"collection": "docs", "dimension": 8, "metric": "dot"},
            )
            assert created.status_code == 201
            _insert(http, "docs", data, "dot")
            http.delete("/entities/vector.default.docs:p00007")
    finally:
        node.kill()
    restarted = NodeProcess(fresh_dir, port=node.port).start()
    try:
        with httpx.Client(base_url=restarted.url, timeout=30.0) as http:
            stats = http.get(
                "/vector/index/stats", params={"collection": "docs"}
            ).json()
            assert stats["vectorCount"] == 399 and stats["metric"] == "DOT"
            query = data[7]
            pks, _ = _exact(np.delete(data, 7, axis=0), query, "dot", 10)
            renumbered = [f"p{int(p[1:]) + (int(p[1:]) >= 7):05d}" for p in pks]
            answer = _search(http, "docs", query, k=10)
            assert [r["pk"] for r in answer["results"]] == renumbered
    finally:
        restarted.stop()


def test_hnsw_recall_at_10(http: httpx.Client) -> None:
    rng = np.random.default_rng(5)
    collection, data = _collection(), rng.normal(size=(20_000, 32)).astype(np.float32)
    _insert(http, collection, data.astype(np.float64))
    config = http.get("/vector/index/config", params={"collection": collection}).json()
    assert config["hnswEnabled"] is True
    hits = 0
    queries = rng.normal(size=(50, 32))
    for query in queries:
        expected, _ = _exact(data.astype(np.float64), query, "cosine", 10)
        answer = _search(http, collection, query, k=10)
        hits += len(set(expected) & {r["pk"] for r in answer["results"]})
    assert hits / (10 * len(queries)) >= 0.95
