"""Random bodies on every route: a 4xx or a success, never a 500, never a crash."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from themis.server.launcher import LocalCluster

ROUTES = [
    ("POST", "/entities"),
    ("PUT", "/entities/fuzz:1"),
    ("POST", "/batch/get"),
    ("POST", "/batch/put"),
    ("POST", "/batch/delete"),
    ("POST", "/query/aql"),
    ("POST", "/index/create"),
    ("POST", "/index/drop"),
    ("POST", "/graph/edge"),
    ("POST", "/graph/traverse"),
    ("POST", "/graph/shortest_path"),
    ("POST", "/graph/neighbors"),
    ("POST", "/graph"),
    ("POST", "/vector/index"),
    ("PUT", "/vector/index/config"),
    ("POST", "/vector/batch_insert"),
    ("POST", "/vector/search"),
    ("POST", "/transaction/begin"),
    ("POST", "/transaction/commit"),
    ("POST", "/transaction/rollback"),
]
# Field names the routes read, so that random bodies reach past the first check.
NAMES = [
    "key",
    "blob",
    "doc",
    "keys",
    "items",
    "query",
    "params",
    "bindVars",
    "namespace",
    "use_cursor",
    "cursor",
    "batch_size",
    "explain",
    "scope",
    "allow_partial",
    "table",
    "pks",
    "column",
    "type",
    "unique",
    "_from",
    "_to",
    "_type",
    "_weight",
    "collection",
    "start",
    "start_vertex",
    "max_depth",
    "min_depth",
    "direction",
    "edge_type",
    "target",
    "weight_attribute",
    "vertices",
    "name",
    "edge_definitions",
    "dimension",
    "metric",
    "field",
    "efSearch",
    "M",
    "vector",
    "k",
    "filter",
    "pk",
    "vector_field",
    "fields",
    "isolation",
    "transaction_id",
    "include",
    "order",
    "limit",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["users:a", "FOR u IN users RETURN u", "x", "cosine", "", "out"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(NAMES) | st.text(max_size=5), inner, max_size=4
        )
    ),
    max_leaves=10,
)
bodies = st.dictionaries(st.sampled_from(NAMES), values, max_size=6) | values


def _fuzzed(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


def _answers_clearly(client: httpx.Client, method: str, path: str, body: Any) -> None:
    """A success or a 4xx in the error shape with a message; never a 500."""
    response = client.request(method, path, json=body)
    assert response.status_code < 500, (body, response.text)
    if response.status_code >= 400:
        error = response.json()
        assert error["status_code"] == response.status_code
        assert isinstance(error["message"], str) and error["message"]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@_fuzzed(60)
@given(body=bodies)
def test_random_bodies_never_cause_a_500(
    http: httpx.Client, method: str, path: str, body: Any
) -> None:
    _answers_clearly(http, method, path, body)


@pytest.fixture
def cluster_node(cluster: LocalCluster) -> Iterator[httpx.Client]:
    """A client of one node of the 3-shard cluster, which asks the others."""
    with httpx.Client(base_url=cluster.urls[1], timeout=30.0) as client:
        yield client


@pytest.mark.parametrize(("method", "path"), ROUTES)
@_fuzzed(20)
@given(body=bodies)
def test_random_bodies_to_a_cluster_never_cause_a_500(
    cluster_node: httpx.Client, method: str, path: str, body: Any
) -> None:
    _answers_clearly(cluster_node, method, path, body)


def test_node_still_serves_after_the_fuzz(http: httpx.Client) -> None:
    assert http.get("/health").json()["status"] == "healthy"


@pytest.fixture
def in_transaction(urls: list[str]) -> Iterator[httpx.Client]:
    """A client whose every request carries the header of a live transaction.

    On the cluster the transaction's node forwards what other shards own to parts
    there, so random bodies reach those paths too.
    """
    with httpx.Client(base_url=urls[0], timeout=10.0) as client:
        begun = client.post("/transaction/begin", json={"isolation": "snapshot"})
        begun.raise_for_status()
        ident = str(begun.json()["transaction_id"])
        client.headers["X-Transaction-Id"] = ident
        yield client
        del client.headers["X-Transaction-Id"]
        ended = client.post("/transaction/rollback", json={"transaction_id": ident})
        assert ended.status_code == 200, ended.text


@pytest.mark.parametrize(
    ("method", "path"), [route for route in ROUTES if not route[1].startswith("/tr")]
)
@_fuzzed(25)
@given(body=bodies)
def test_random_bodies_in_a_transaction_never_cause_a_500(
    in_transaction: httpx.Client, method: str, path: str, body: Any
) -> None:
    _answers_clearly(in_transaction, method, path, body)
    assert in_transaction.get("/health").json()["status"] == "healthy"
