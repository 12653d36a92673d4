"""The AQL corpus over HTTP on a real node: whole results and cursor pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.aql.corpus import CASES, COLLECTIONS, GRAPHS, INDEXES, Case
from themis import ThemisClient, _routing
from themis.server.launcher import LocalCluster, NodeProcess

VALID = [case for case in CASES if case.error is None]
INVALID = [case for case in CASES if case.error is not None]
# The SDK refuses an empty query itself, before any request.
INVALID_SENDABLE = [case for case in INVALID if case.query.strip()]


def load_dataset(url: str) -> None:
    """Store the corpus dataset, its indexes and its named graph on a node."""
    items = [
        {"key": f"{name}:{doc['_key']}", "blob": _blob(doc)}
        for name, docs in COLLECTIONS.items()
        for doc in docs
    ]
    with httpx.Client(base_url=url, timeout=30.0) as http:
        assert http.post("/batch/put", json={"items": items}).json()["failed"] == {}
    define_schema(url)


def load_dataset_sharded(shards: dict[str, str]) -> None:
    """Store the corpus dataset on the shards that own each key, as the SDK would."""
    placed: dict[str, list[dict[str, str]]] = {url: [] for url in shards.values()}
    for name, docs in COLLECTIONS.items():
        for doc in docs:
            key = f"{name}:{doc['_key']}"
            owner = _routing.owner(list(shards), _routing.routing_key(key))
            placed[shards[owner]].append({"key": key, "blob": _blob(doc)})
    for url, items in placed.items():
        response = httpx.post(f"{url}/batch/put", json={"items": items}, timeout=30)
        assert response.json()["failed"] == {}
    # One node passes the definitions on to every shard.
    define_schema(next(iter(shards.values())))


def define_schema(url: str) -> None:
    """Create the corpus indexes and named graph through one node (of a cluster,
    which defines them on every shard)."""
    with httpx.Client(base_url=url, timeout=30.0) as http:
        for collection, path, kind in INDEXES:
            body = {"table": collection, "column": ".".join(path), "type": kind}
            http.post("/index/create", json=body).raise_for_status()
        for name, edges in GRAPHS.items():
            definitions = [
                {"collection": c, "from": ["users"], "to": ["users"]} for c in edges
            ]
            graph = {"name": name, "edge_definitions": definitions}
            http.post("/graph", json=graph).raise_for_status()


def _blob(doc: dict[str, Any]) -> str:
    return orjson.dumps({k: v for k, v in doc.items() if k != "_key"}).decode()


def canonical(values: list[Any]) -> list[bytes]:
    """An order-free form of a result for comparing unordered queries."""
    return sorted(orjson.dumps(v, option=orjson.OPT_SORT_KEYS) for v in values)


def assert_same(case: Case, result: list[Any]) -> None:
    """Compare a result with the case's expectation, in order when it is defined."""
    if case.ordered:
        assert result == case.expected
    else:
        assert canonical(result) == canonical(case.expected)


def run_paged(http: httpx.Client, case: Case, batch_size: int) -> list[Any]:
    """Run a case page by page through the cursor protocol."""
    body = {"query": case.query, "bindVars": case.bind_vars, "use_cursor": True}
    page = http.post("/query/aql", json={**body, "batch_size": batch_size}).json()
    rows = list(page["items"])
    while page["has_more"]:
        assert len(page["items"]) == batch_size
        page = http.post(
            "/query/aql", json={**body, "cursor": page["next_cursor"]}
        ).json()
        rows += page["items"]
    return rows


@pytest.fixture(scope="module")
def corpus_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with NodeProcess(tmp_path_factory.mktemp("corpus")) as node:
        load_dataset(node.url)
        with httpx.Client(base_url=node.url, timeout=30.0) as http:
            yield http


@pytest.mark.parametrize("case", VALID, ids=[c.query[:60] for c in VALID])
def test_corpus_case_over_http(corpus_node: httpx.Client, case: Case) -> None:
    response = corpus_node.post(
        "/query/aql", json={"query": case.query, "bindVars": case.bind_vars}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["entities"])
    assert_same(case, body["entities"])


@pytest.mark.parametrize("case", VALID, ids=[c.query[:60] for c in VALID])
def test_corpus_case_paged(corpus_node: httpx.Client, case: Case) -> None:
    assert_same(case, run_paged(corpus_node, case, batch_size=2))


@pytest.mark.parametrize("case", INVALID, ids=[c.query[:60] for c in INVALID])
def test_corpus_error_over_http(corpus_node: httpx.Client, case: Case) -> None:
    response = corpus_node.post(
        "/query/aql", json={"query": case.query, "bindVars": case.bind_vars}
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": True,
        "message": case.message,
        "status_code": 400,
    }


def test_cursor_of_another_query_is_rejected(corpus_node: httpx.Client) -> None:
    first = corpus_node.post(
        "/query/aql",
        json={
            "query": "FOR u IN users RETURN u._key",
            "use_cursor": True,
            "batch_size": 1,
        },
    ).json()
    response = corpus_node.post(
        "/query/aql",
        json={
            "query": "FOR o IN orders RETURN o",
            "use_cursor": True,
            "cursor": first["next_cursor"],
        },
    )
    assert response.status_code == 400
    assert response.json()["message"] == (
        "invalid cursor: the token belongs to a different query or parameters"
    )


def test_tampered_cursor_is_rejected(corpus_node: httpx.Client) -> None:
    body = {
        "query": "FOR u IN users RETURN u._key",
        "use_cursor": True,
        "batch_size": 1,
    }
    token = corpus_node.post("/query/aql", json=body).json()["next_cursor"]
    forged = ("A" if token[0] != "A" else "B") + token[1:]
    response = corpus_node.post("/query/aql", json={**body, "cursor": forged})
    assert response.status_code == 400
    assert (
        response.json()["message"]
        == "invalid cursor: the token was not issued by this node"
    )


def test_explain_names_the_index(corpus_node: httpx.Client) -> None:
    body = {"query": "FOR u IN users FILTER u.age > 20 RETURN u.name", "explain": True}
    plan = corpus_node.post("/query/aql", json=body).json()
    assert plan["query"] == body["query"]
    assert "age" in orjson.dumps(plan["plan"]).decode()


def test_node_unhurt_by_queries(corpus_node: httpx.Client) -> None:
    assert corpus_node.get("/health").json()["status"] == "healthy"


@pytest.fixture(scope="module")
def corpus_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ThemisClient]:
    root = tmp_path_factory.mktemp("corpus-cluster")
    with LocalCluster(root, shards=3) as cluster:
        load_dataset_sharded({str(n.shard_id): n.url for n in cluster.nodes})
        with ThemisClient(endpoints=cluster.urls[:1]) as client:
            yield client


@pytest.mark.parametrize("case", VALID, ids=[c.query[:60] for c in VALID])
def test_corpus_case_on_three_shards(corpus_cluster: ThemisClient, case: Case) -> None:
    result = corpus_cluster.query(case.query, params=case.bind_vars or None)
    assert_same(case, result.items)


@pytest.mark.parametrize("case", VALID, ids=[c.query[:60] for c in VALID])
def test_corpus_case_paged_on_three_shards(
    corpus_cluster: ThemisClient, case: Case
) -> None:
    params = case.bind_vars or None
    rows = list(corpus_cluster.query_iter(case.query, params=params, batch_size=3))
    assert_same(case, rows)


@pytest.mark.parametrize(
    "case", INVALID_SENDABLE, ids=[c.query[:60] for c in INVALID_SENDABLE]
)
def test_corpus_error_on_three_shards(corpus_cluster: ThemisClient, case: Case) -> None:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        corpus_cluster.query(case.query, params=case.bind_vars or None)
    assert caught.value.response.status_code == 400
    assert caught.value.response.json()["message"] == case.message
