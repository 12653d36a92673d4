"""Similarity ranking through a source's nearest(): the same rows as the plain plan."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from themis.aql import compile_query
from themis.aql.errors import AqlExecutionError
from themis.aql.memory import MemorySource

DIMENSION = 6


def _docs() -> list[dict[str, Any]]:
    rng = np.random.default_rng(3)
    docs: list[dict[str, Any]] = []
    for i in range(120):
        vector = rng.normal(size=DIMENSION).round(2).tolist()
        docs.append({"_key": f"k{i:03d}", "n": i, "g": i % 5, "v": vector})
    # Exact duplicates tie under either metric; the plain plan orders them by _key.
    docs += [{**docs[7], "_key": f"dup{i}", "n": 200 + i} for i in range(4)]
    docs.append({"_key": "novec", "n": 300, "g": 9})
    return docs


class NearestSource(MemorySource):
    """A memory source with a float32 vector index on ``t.v``, as a node has."""

    def __init__(self, metric: str) -> None:
        super().__init__({"t": _docs(), "users": _users()})
        self.metric = metric
        self.requests: list[int] = []

    def serves_nearest(self, name: str, path: tuple[str, ...], metric: str) -> bool:
        return name == "t" and path == ("v",) and metric == self.metric

    def nearest(
        self, name: str, path: tuple[str, ...], vector: Any, metric: str, k: int
    ) -> list[dict[str, Any]] | None:
        if not self.serves_nearest(name, path, metric) or not vector:
            return None
        self.requests.append(k)
        docs = [doc for doc in self.scan(name) if "v" in doc]
        rows = np.asarray([doc["v"] for doc in docs], dtype=np.float32)
        query = np.asarray(vector, dtype=np.float32)
        if metric == "l2":
            distances = ((rows - query) ** 2).sum(axis=1)
        else:
            units = rows / np.linalg.norm(rows, axis=1, keepdims=True)
            distances = 1 - units @ (query / np.linalg.norm(query))
        # Ties in slot order, which is not always _key order on a node.
        order = np.lexsort((-np.arange(len(docs)), distances))[:k]
        return [docs[i] for i in order]


COSINE = "SORT COSINE_SIMILARITY(d.v, @q) DESC"
L2 = "SORT L2_DISTANCE(d.v, @q) ASC"
RETURN = "RETURN [d._key, d.n]"
QUERIES = [
    (f"FOR d IN t FILTER d.v != null {COSINE} LIMIT 5 {RETURN}", "cosine"),
    (f"FOR d IN t FILTER d.v != null {COSINE} LIMIT 3, 4 {RETURN}", "cosine"),
    (f"FOR d IN t FILTER d.g == 1 FILTER d.n > 10 {COSINE} LIMIT 6 {RETURN}", "cosine"),
    (f"FOR d IN t FILTER d.n >= 118 AND d.n < 300 {COSINE} LIMIT 5 {RETURN}", "cosine"),
    (f"FOR d IN t FILTER d.v {L2} LIMIT @o, @c RETURN d.n", "l2"),
    (f"FOR d IN t FILTER d.v FILTER d.g != 3 {L2} LIMIT 8 RETURN {{k: d._key}}", "l2"),
    (
        "FOR d IN t FILTER d.v SORT COSINE_SIMILARITY(@q, d.v) DESC LIMIT 7 "
        "RETURN COSINE_SIMILARITY(@q, d.v)",
        "cosine",
    ),
    (
        "FOR u IN users FOR d IN t FILTER d.v SORT COSINE_SIMILARITY(d.v, u.q) DESC "
        "LIMIT 4 RETURN [u._key, d._key, @q != null]",
        "cosine",
    ),
    (f"FOR x IN [1, 2] FOR d IN t FILTER d.g == x {L2} LIMIT 3 RETURN d.n", "l2"),
]


@pytest.mark.parametrize(("text", "metric"), QUERIES, ids=[q for q, _ in QUERIES])
@pytest.mark.parametrize("vector", [[0.5, -1, 2, 0, 1, 1], None], ids=["q", "dup"])
def test_nearest_same_rows_as_the_plain_plan(
    text: str, metric: str, vector: list[float] | None
) -> None:
    query = compile_query(text)
    binds: dict[str, Any] = {"q": vector or _docs()[7]["v"]}
    binds.update({"o": 2, "c": 5} if "@o" in text else {})
    expected = list(
        query.execute(MemorySource({"t": _docs(), "users": _users()}), binds)
    )
    source = NearestSource(metric)

    result = list(query.execute(source, binds))

    assert orjson.dumps(result) == orjson.dumps(expected)
    assert source.requests


def _users() -> list[dict[str, Any]]:
    return [{"_key": "a", "q": [1.0] * DIMENSION}]


def test_selective_filter_widens_the_request() -> None:
    text = f"FOR d IN t FILTER d.n >= 100 AND d.n < 120 {COSINE} LIMIT 2, 3 {RETURN}"
    source = NearestSource("cosine")

    list(compile_query(text).execute(source, {"q": [1.0] * DIMENSION}))

    assert source.requests[:2] == [10, 40]


@pytest.mark.parametrize(
    "text",
    [
        # The metric of the index differs, or the order, field or shape does.
        f"FOR d IN t FILTER d.v {L2} LIMIT 5 RETURN d",
        "FOR d IN t FILTER d.v SORT COSINE_SIMILARITY(d.v, @q) ASC LIMIT 5 RETURN d",
        "FOR d IN t FILTER d.v SORT COSINE_SIMILARITY(d.v, d.v) DESC LIMIT 5 "
        "RETURN [d, @q]",
        "FOR d IN t FILTER d.v SORT COSINE_SIMILARITY(NOT_NULL(d.w.v, d.v), @q) DESC "
        "LIMIT 5 RETURN d",
        "FOR d IN t FILTER d.v SORT COSINE_SIMILARITY(d.v, @q) DESC RETURN d",
        "FOR d IN t FILTER d.v LET s = 1 SORT COSINE_SIMILARITY(d.v, @q) DESC "
        "LIMIT 5 RETURN d",
        "FOR d IN t FILTER d.v SORT COSINE_SIMILARITY(d.v, @q) DESC, d.n LIMIT 5 "
        "RETURN d",
        "FOR d IN t FILTER d.v SORT COSINE_SIMILARITY(d.v, @q) DESC LIMIT 0 RETURN d",
    ],
)
def test_other_shapes_take_the_plain_plan(text: str) -> None:
    binds = {"q": [1.0] * DIMENSION}
    expected = list(compile_query(text).execute(MemorySource({"t": _docs()}), binds))
    source = NearestSource("cosine")

    result = list(compile_query(text).execute(source, binds))

    assert result == expected
    assert source.requests == []


def test_documents_the_index_skips_leave_it_to_the_plain_plan() -> None:
    # Fewer documents survive than the LIMIT asks for: the unindexed one decides.
    text = f"FOR d IN t FILTER d.n >= 300 {COSINE} LIMIT 5 RETURN d._key"
    source = NearestSource("cosine")

    with pytest.raises(AqlExecutionError, match="expects arrays of numbers"):
        list(compile_query(text).execute(source, {"q": [1.0] * DIMENSION}))
    assert source.requests


def test_explain_names_the_path() -> None:
    text = f"FOR d IN t FILTER d.g == 2 {COSINE} LIMIT 1, 2 RETURN d"
    query = compile_query(text)
    binds = {"q": [1.0] * DIMENSION}

    plain = query.explain(MemorySource({"t": _docs()}), binds)
    indexed = query.explain(NearestSource("cosine"), binds)

    assert [n["type"] for n in plain["nodes"]] == [
        "EnumerateCollection",
        "Filter",
        "Sort",
        "Limit",
        "Return",
    ]
    assert indexed["nodes"][0] == {
        "type": "VectorNearest",
        "collection": "t",
        "index": {"field": "v", "use": "nearest", "metric": "cosine"},
        "filters": 1,
        "offset": 1,
        "count": 2,
    }
    assert indexed["indexes"] == [{"field": "v", "use": "nearest", "metric": "cosine"}]
