"""The quickstart's calls against real nodes: one node and a 3-shard cluster."""

from __future__ import annotations

import gc
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from themis import ThemisClient, ThemisHTTPError
from themis.server.http import PEER_HEADER
from themis.server.launcher import LocalCluster, NodeProcess


@pytest.fixture(params=["node", "cluster"])
def client(
    request: pytest.FixtureRequest, node: NodeProcess, cluster: LocalCluster
) -> Iterator[ThemisClient]:
    urls = [node.url] if request.param == "node" else cluster.urls[:1]
    with ThemisClient(endpoints=urls, namespace=f"qs{uuid.uuid4().hex[:8]}") as sdk:
        yield sdk


def test_health_reports_healthy(client: ThemisClient) -> None:
    health = client.health()
    assert health["status"] == "healthy"
    assert health["database"] == "themis"


def test_put_get_delete(client: ThemisClient) -> None:
    user_id = str(uuid.uuid4())
    doc = {
        "name": "Alice",
        "n": 123456789012345678901234567890,
        "tags": ["ü", {"x": 1}],
    }

    assert client.put("relational", "users", user_id, doc) is True
    assert client.get("relational", "users", user_id) == doc
    assert client.delete("relational", "users", user_id) is True
    assert client.get("relational", "users", user_id) is None
    assert client.delete("relational", "users", user_id) is False


def test_batches_are_exact(client: ThemisClient) -> None:
    docs = {str(i): {"i": i} for i in range(300)}

    written = client.batch_put("relational", "users", docs)
    batch = client.batch_get("relational", "users", [*docs, "999999"])
    deleted = client.batch_delete("relational", "users", ["0", "1", "nope"])

    assert sorted(written.succeeded) == sorted(docs)
    assert written.failed == {}
    assert batch.found == docs
    assert batch.missing == ["999999"]
    assert batch.errors == {}
    assert sorted(deleted.succeeded) == ["0", "1"]
    assert deleted.missing == ["nope"]


def test_http_errors_are_httpx_status_errors(client: ThemisClient) -> None:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        client.query("FOR u IN")
    assert isinstance(caught.value, ThemisHTTPError)
    assert caught.value.response.status_code == 400


def test_cluster_spreads_keys_over_every_shard(cluster: LocalCluster) -> None:
    namespace = f"spread{uuid.uuid4().hex[:8]}"
    with ThemisClient(endpoints=cluster.urls[:1], namespace=namespace) as client:
        client.batch_put("relational", "items", {str(i): {"i": i} for i in range(90)})

    keys = [f"relational.{namespace}.items:{i}" for i in range(90)]
    counts = []
    for url in cluster.urls:
        # Asked as a shard asks, a node answers for its own keys alone.
        own = httpx.post(
            f"{url}/batch/get", json={"keys": keys}, headers={PEER_HEADER: "test"}
        )
        counts.append(len(own.json()["found"]))
        # Asked as any client asks, it answers for the whole cluster.
        every = httpx.post(f"{url}/batch/get", json={"keys": keys})
        assert len(every.json()["found"]) == 90
    assert sum(counts) == 90
    assert all(count > 10 for count in counts)


def _worker_threads() -> int:
    return sum(t.name.startswith("themis-worker") for t in threading.enumerate())


def test_worker_threads_end_with_the_client(cluster: LocalCluster) -> None:
    before = _worker_threads()
    with ThemisClient(endpoints=cluster.urls[:1]) as closed:
        closed.batch_get("relational", "items", [str(i) for i in range(90)])
        assert _worker_threads() > before
    assert _worker_threads() == before

    dropped = ThemisClient(endpoints=cluster.urls[:1])
    dropped.batch_get("relational", "items", [str(i) for i in range(90)])
    del dropped
    gc.collect()
    deadline = time.monotonic() + 5.0
    while _worker_threads() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _worker_threads() == before
