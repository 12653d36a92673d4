"""AQL similarity ranking on a real node: through the vector index and without it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest

from themis import ThemisClient
from themis.server.launcher import NodeProcess
from themis.server.vector_index import HNSW_THRESHOLD

COUNT, DIMENSION = 400, 8
Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Loaded:
    """The same documents in collections with a cosine index, an l2 index and none."""

    cosine: str
    l2: str
    plain: str
    people: str
    data: Array
    client: ThemisClient
    http: httpx.Client


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def loaded(node: NodeProcess) -> Iterator[Loaded]:
    data = np.random.default_rng(21).normal(size=(COUNT, DIMENSION)).round(3)
    docs = {
        f"p{i:03d}": {"n": i, "g": i % 7, "owner": f"u{i % 4}", "embedding": row}
        for i, row in enumerate(data.tolist())
    }
    names = Loaded(
        _unique("vc"),
        _unique("vl"),
        _unique("vp"),
        _unique("pe"),
        data,
        *_clients(node),
    )
    for name, metric in ((names.cosine, "cosine"), (names.l2, "l2")):
        body = {"collection": name, "dimension": DIMENSION, "metric": metric}
        assert names.http.post("/vector/index", json=body).status_code == 201
    for name in (names.cosine, names.l2, names.plain):
        assert not names.client.batch_put("vector", name, docs).failed
    _people(names)
    try:
        yield names
    finally:
        names.client.close()
        names.http.close()


def _clients(node: NodeProcess) -> tuple[ThemisClient, httpx.Client]:
    return ThemisClient(node.url), httpx.Client(base_url=node.url, timeout=30.0)


def _people(loaded: Loaded) -> None:
    """People u0..u3 where u0 follows u1 and u2, and u1 follows u3."""
    people = {f"u{i}": {"name": f"user {i}"} for i in range(4)}
    assert not loaded.client.batch_put("relational", loaded.people, people).failed
    for a, b in (("u0", "u1"), ("u0", "u2"), ("u1", "u3")):
        edge = {
            "_from": f"relational.default.{loaded.people}:{a}",
            "_to": f"relational.default.{loaded.people}:{b}",
            "collection": f"{loaded.people}e",
        }
        response = loaded.http.post("/graph/edge", json=edge)
        assert response.status_code < 300, response.text


def _rows(loaded: Loaded, text: str, collection: str, **binds: Any) -> list[Any]:
    params = {"@c": collection, "p": loaded.people, "@e": f"{loaded.people}e"}
    params.update(binds)
    used = {k: v for k, v in params.items() if f"@{k}" in text}
    return list(loaded.client.query(text, params=used).items)


def _plan(loaded: Loaded, text: str, collection: str, **binds: Any) -> list[Any]:
    params = {"@c": collection, **binds}
    body = {"query": text, "bindVars": params, "explain": True}
    answer = loaded.http.post("/query/aql", json=body)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["plan"]["nodes"])


COSINE = "SORT COSINE_SIMILARITY(d.embedding, @q) DESC"
L2 = "SORT L2_DISTANCE(d.embedding, @q) ASC"
QUERIES = [
    f"FOR d IN @@c {COSINE} LIMIT 10 RETURN d._key",
    f"FOR d IN @@c {COSINE} LIMIT 5, 5 RETURN [d._key, d.n]",
    f"FOR d IN @@c FILTER d.g == 3 {COSINE} LIMIT @o, @k RETURN d._key",
    # Rejects all but 4 in 100 of the nearest: the request widens.
    f"FOR d IN @@c FILTER d.n % 25 == 0 {COSINE} LIMIT 8 RETURN d._key",
    f"FOR d IN @@c FILTER d.g != 1 FILTER d.n > 50 {L2} LIMIT 3, 7 RETURN d.n",
    f"FOR d IN @@c FILTER d.n < 40 {L2} LIMIT 10 "
    "RETURN {key: d._key, distance: L2_DISTANCE(d.embedding, @q)}",
    "FOR d IN @@c SORT COSINE_SIMILARITY(@q, d.embedding) DESC LIMIT 6 "
    "RETURN MERGE(UNSET(d, '_id', '_urn'), {s: COSINE_SIMILARITY(@q, d.embedding)})",
    # Hybrid: the people u0 follows, each with the documents they own nearest @q.
    "FOR u IN 1..1 OUTBOUND CONCAT('relational.default.', @p, ':u0') @@e "
    f"FOR d IN @@c FILTER d.owner == u._key {COSINE} LIMIT 3 "
    "RETURN [u._key, d._key]",
]


@pytest.mark.parametrize("text", QUERIES, ids=range(len(QUERIES)))
def test_indexed_rows_equal_the_plain_plan(loaded: Loaded, text: str) -> None:
    indexed = loaded.l2 if "L2_DISTANCE" in text else loaded.cosine
    for seed in range(3):
        query = np.random.default_rng(seed).normal(size=DIMENSION).round(3).tolist()
        binds = {"q": query, "o": 2, "k": 6}
        expected = _rows(loaded, text, loaded.plain, **binds)
        assert expected, text

        assert _rows(loaded, text, indexed, **binds) == expected


def test_explain_names_the_vector_index(loaded: Loaded) -> None:
    text = f"FOR d IN @@c FILTER d.g == 3 {COSINE} LIMIT 4 RETURN d._key"
    query = [1.0] * DIMENSION

    indexed = _plan(loaded, text, loaded.cosine, q=query)
    plain = _plan(loaded, text, loaded.plain, q=query)
    other_metric = _plan(loaded, text, loaded.l2, q=query)

    assert indexed[0]["type"] == "VectorNearest"
    assert indexed[0]["index"] == {
        "field": "embedding",
        "use": "nearest",
        "metric": "cosine",
    }
    assert plain[0]["type"] == other_metric[0]["type"] == "EnumerateCollection"
    hybrid = _plan(loaded, QUERIES[-1], loaded.cosine, q=query, p="x", **{"@e": "y"})
    assert [n["type"] for n in hybrid][:2] == ["Traversal", "VectorNearest"]


def test_transaction_with_writes_sees_its_own_vectors(loaded: Loaded) -> None:
    text = f"FOR d IN @@c {COSINE} LIMIT 1 RETURN d._key"
    query = [9.0] * DIMENSION
    with loaded.client.begin_transaction() as txn:
        txn.put("vector", loaded.cosine, "mine", {"embedding": query, "n": -1})
        rows = txn.query(text, params={"@c": loaded.cosine, "q": query}).items
        # Rolled back so that the other tests keep identical collections.
        txn.rollback()

    assert rows == ["mine"]


def test_hnsw_recall_at_10(node: NodeProcess) -> None:
    rng = np.random.default_rng(8)
    collection, dimension = _unique("vh"), 16
    data = rng.normal(size=(HNSW_THRESHOLD, dimension)).astype(np.float32)
    with httpx.Client(base_url=node.url, timeout=60.0) as http:
        for start in range(0, len(data), 5000):
            items = [
                {"pk": f"h{i:05d}", "vector": data[i].tolist(), "fields": {"n": i}}
                for i in range(start, start + 5000)
            ]
            body = {"collection": collection, "items": items}
            assert http.post("/vector/batch_insert", json=body).status_code == 200
        config = http.get("/vector/index/config", params={"collection": collection})
        assert config.json()["hnswEnabled"] is True
    text = f"FOR d IN {collection} {COSINE} LIMIT 10 RETURN d._key"
    plan = httpx.post(
        f"{node.url}/query/aql",
        json={"query": text, "bindVars": {"q": [1.0] * dimension}, "explain": True},
    )
    assert plan.json()["plan"]["nodes"][0]["type"] == "VectorNearest"
    units = data / np.linalg.norm(data, axis=1, keepdims=True)
    hits, queries = 0, rng.normal(size=(20, dimension))
    with ThemisClient(node.url) as client:
        for query in queries:
            expected = np.argsort(-(units @ query), kind="stable")[:10]
            found = client.query(text, params={"q": query.tolist()}).items
            hits += len({f"h{i:05d}" for i in expected} & set(found))

    assert hits / (10 * len(queries)) >= 0.95
