from __future__ import annotations

from types import MappingProxyType

import httpx
import pytest

from themis import BatchGetResult, BatchWriteResult
from themis._core.batch_plan import BatchLimits

from .fakes import FakeCluster, error


def _seed(cluster: FakeCluster) -> None:
    client = cluster.client()
    for uuid in ("1", "2", "3", "4", "5"):
        client.put("relational", "users", uuid, {"id": uuid})
    cluster.requests.clear()


def test_batch_get_across_three_shards() -> None:
    cluster = FakeCluster(3)
    _seed(cluster)
    assert (
        len({id(cluster.holder(f"relational.default.users:{u}")) for u in "12345"}) > 1
    )
    result = cluster.client().batch_get("relational", "users", ["1", "2", "999", "5"])
    assert result == BatchGetResult(
        found={"1": {"id": "1"}, "2": {"id": "2"}, "5": {"id": "5"}},
        missing=["999"],
        errors={},
    )
    batch_posts = [p for p in cluster.paths() if p.endswith("/batch/get")]
    assert 1 < len(batch_posts) <= 3


def test_batch_put_and_delete() -> None:
    cluster = FakeCluster(3)
    client = cluster.client()
    docs = {str(i): {"i": i} for i in range(10)}
    assert client.batch_put("relational", "users", docs) == BatchWriteResult(
        succeeded=list(docs)
    )
    assert client.get("relational", "users", "7") == {"i": 7}
    result = client.batch_delete("relational", "users", ["1", "2", "nope"])
    assert result == BatchWriteResult(succeeded=["1", "2"], missing=["nope"])


def test_batch_falls_back_to_per_key_and_remembers() -> None:
    cluster = FakeCluster(1)
    cluster.nodes["node0"].batch_routes = False
    client = cluster.client()
    assert client.batch_put("relational", "users", {"1": {"a": 1}}).succeeded == ["1"]
    result = client.batch_get("relational", "users", ["1", "2"])
    assert result == BatchGetResult(found={"1": {"a": 1}}, missing=["2"])
    deleted = client.batch_delete("relational", "users", ["1", "2"])
    assert deleted == BatchWriteResult(succeeded=["1"], missing=["2"])
    assert [p for p in cluster.paths() if "/batch/" in p] == ["POST node0/batch/put"]


def test_failed_shard_marks_each_key() -> None:
    cluster = FakeCluster(3)
    _seed(cluster)
    broken = cluster.holder("relational.default.users:1")

    def handler(request: httpx.Request) -> httpx.Response | None:
        if request.url.host in broken.endpoint and request.url.path == "/batch/get":
            return error(503, "shard overloaded")
        return None

    cluster.override = handler
    client = cluster.client()
    result = client.batch_get("relational", "users", ["1", "2", "3", "4", "5"])
    lost = [u for u in "12345" if f"relational.default.users:{u}" in broken.store]
    assert sorted(result.errors) == lost
    assert all("503 Service Unavailable" in reason for reason in result.errors.values())
    assert all("shard overloaded" in reason for reason in result.errors.values())
    assert sorted([*result.found, *result.errors]) == list("12345")


def _answer_batch_get(cluster: FakeCluster, payload: dict[str, object]) -> None:
    def handler(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/batch/get":
            return httpx.Response(200, json=payload)
        return None

    cluster.override = handler


def test_positional_answer_pairs_documents_with_uuids() -> None:
    cluster = FakeCluster(1)
    _answer_batch_get(
        cluster,
        {
            "documents": [{"n": 1}, None, None, {"n": 4}, None],
            "missing": [1],
            "errors": [{"position": 2, "message": "bad key"}],
        },
    )
    result = cluster.client().batch_get("relational", "users", list("abcde"))
    assert result == BatchGetResult(
        found={"a": {"n": 1}, "d": {"n": 4}},
        missing=["b"],
        errors={"c": "bad key", "e": "shard 's0' reported no outcome for this key"},
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"documents": [None]}, "expected 2 documents from shard 's0', received 1"),
        (
            {"documents": [None, None], "missing": [7]},
            "expected positions of the request in the answer of shard 's0', "
            "received IndexError",
        ),
    ],
)
def test_malformed_positional_answer_fails_the_chunk(
    payload: dict[str, object], reason: str
) -> None:
    cluster = FakeCluster(1)
    _answer_batch_get(cluster, payload)
    result = cluster.client().batch_get("relational", "users", ["a", "b"])
    assert list(result.errors) == ["a", "b"]
    assert all(reason in message for message in result.errors.values())


def test_missing_outcome_is_reported_not_dropped() -> None:
    cluster = FakeCluster(1)

    def handler(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/batch/get":
            return httpx.Response(200, json={"found": {}, "missing": [], "errors": {}})
        return None

    cluster.override = handler
    client = cluster.client()
    result = client.batch_get("relational", "users", ["1"])
    assert result.errors == {"1": "shard 's0' reported no outcome for this key"}


def test_put_chunks_respect_the_byte_limit_in_utf8() -> None:
    cluster = FakeCluster(1)
    client = cluster.client()
    limit = 4096
    client._session.batch_limits = BatchLimits(max_bytes=limit)
    # Each document is 1,000 characters but 3,000 bytes of UTF-8.
    docs = {str(i): {"text": "€" * 1000} for i in range(6)}

    assert client.batch_put("relational", "users", docs).succeeded == list(docs)

    bodies = [
        len(request.content)
        for request in cluster.requests
        if request.url.path == "/batch/put"
    ]
    assert len(bodies) == 6 and all(size <= limit for size in bodies)


def test_put_chunks_of_uneven_documents_are_cut_until_each_fits() -> None:
    cluster = FakeCluster(1)
    client = cluster.client()
    limit = 4096
    client._session.batch_limits = BatchLimits(max_bytes=limit)
    docs = {str(i): {"text": "x" * (3000 if i % 5 == 0 else 10)} for i in range(40)}

    assert client.batch_put("relational", "users", docs).succeeded == list(docs)

    bodies = [r.content for r in cluster.requests if r.url.path == "/batch/put"]
    assert all(len(body) <= limit for body in bodies)
    assert sum(body.count(b'"key"') for body in bodies) == len(docs)
    assert client.get("relational", "users", "35") == docs["35"]


def test_put_keeps_documents_orjson_cannot_write_exact() -> None:
    cluster = FakeCluster(2)
    client = cluster.client()
    docs = {
        "big": {"n": 2**70, "neg": -(2**65)},
        "proxy": MappingProxyType({"a": [1, {"b": None}]}),
        "plain": {"s": "é"},
    }

    assert client.batch_put("relational", "users", docs).succeeded == list(docs)

    found = client.batch_get("relational", "users", list(docs)).found
    assert found == {uuid: dict(doc) for uuid, doc in docs.items()}


def test_put_refuses_a_document_that_is_no_mapping_before_sending() -> None:
    cluster = FakeCluster(1)
    client = cluster.client()
    cluster.requests.clear()
    with pytest.raises(TypeError, match="a document must be a mapping, got list"):
        client.batch_put("relational", "users", {"a": {"x": 1}, "b": [1, 2]})  # type: ignore[dict-item]
    assert [r for r in cluster.requests if "/batch/" in r.url.path] == []


def test_each_batch_request_names_the_shard_it_was_routed_to() -> None:
    cluster = FakeCluster(3)
    _seed(cluster)
    cluster.client().batch_get("relational", "users", list("12345"))
    named = {
        request.url.host: request.headers["X-Themis-Shard"]
        for request in cluster.requests
        if request.url.path == "/batch/get"
    }
    shard_of = {node.endpoint: node.shard_id for node in cluster.nodes.values()}
    assert len(named) > 1
    assert all(
        shard_of[f"http://{host}:8765"] == shard for host, shard in named.items()
    )
