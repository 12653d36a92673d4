from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from typing import Any

import httpx
import pytest

from themis import AsyncThemisClient, Shard, ThemisClient, Topology, TopologyError
from themis._core.topology import TopologyState, parse_topology

from .fakes import FakeCluster


def test_parse_accepts_every_shard_form() -> None:
    payload = {
        "version": 7,
        "shards": [
            "http://a:1/",
            {"id": "b", "endpoint": "http://b:1"},
            {"id": 3, "http_endpoint": "http://c:1"},
            {"endpoints": ["http://d:1", "http://d:2"]},
        ],
    }
    assert parse_topology(payload, "test") == Topology(
        7,
        (
            Shard("http://a:1", "http://a:1"),
            Shard("b", "http://b:1"),
            Shard("3", "http://c:1"),
            Shard("http://d:1", "http://d:1"),
        ),
    )


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            [1],
            "expected a topology object {'version': int, 'shards': [...]} from src, "
            "got [1]",
        ),
        (
            {"version": "2", "shards": ["http://a:1"]},
            "expected an integer 'version' in the topology from src, got '2'",
        ),
        (
            {"version": 1, "shards": []},
            "expected a non-empty list 'shards' in the topology from src, got []",
        ),
        (
            {"version": 1, "shards": [{"id": "a"}]},
            "expected shard 0 in the topology from src to be a URL or an object "
            "with 'http_endpoint', 'endpoint' or 'endpoints', got {'id': 'a'}",
        ),
        (
            {"version": 1, "shards": [{"id": "a", "endpoint": "http://a:1"}] * 2},
            "expected unique shard ids in the topology from src, got 'a' twice",
        ),
    ],
)
def test_parse_rejects_malformed(payload: Any, message: str) -> None:
    with pytest.raises(TopologyError) as info:
        parse_topology(payload, "src")
    assert str(info.value) == message


def test_state_keeps_newer_version() -> None:
    state = TopologyState(["http://a:1"], ttl=10)
    newer = Topology(5, (Shard("a", "http://a:1"),))
    older = Topology(4, (Shard("b", "http://b:1"),))
    assert state.install(newer, now=0) == newer
    assert state.install(older, now=1) == newer
    assert not state.due(5) and state.due(11)


def test_client_loads_topology_lazily_from_relative_path() -> None:
    cluster = FakeCluster(3)
    client = cluster.client()
    assert cluster.requests == []
    assert client.topology().shard_ids == ["s0", "s1", "s2"]
    assert cluster.paths() == ["GET node0/_admin/cluster/topology"]


def test_relative_path_tries_bootstrap_endpoints_in_turn() -> None:
    cluster = FakeCluster(2)
    cluster.nodes["node0"].down = True
    client = ThemisClient(
        cluster.endpoints, transport=httpx.MockTransport(cluster.handle)
    )
    assert client.topology().version == 1
    assert cluster.paths() == [
        "GET node0/_admin/cluster/topology",
        "GET node1/_admin/cluster/topology",
    ]


def _serve(answer: httpx.Response, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    return httpx.MockTransport(handle)


DOC = {"version": 3, "shards": [{"id": "x", "http_endpoint": "http://x:1"}]}
DOC_B64 = base64.b64encode(json.dumps(DOC).encode()).decode()


@pytest.mark.parametrize(
    ("metadata", "answer", "expected"),
    [
        ("http://meta:1/topology.json", DOC, "GET http://meta:1/topology.json"),
        (
            "etcd://etcd:2379/themis/topology",
            {"kvs": [{"value": DOC_B64}]},
            "POST http://etcd:2379/v3/kv/range",
        ),
        (
            "http://etcd:2379/v3/kv/range?key=/themis/topology",
            {"kvs": [{"value": DOC_B64}]},
            "POST http://etcd:2379/v3/kv/range",
        ),
        (
            "http://etcd:2379/v2/keys/themis/topology",
            {"node": {"value": json.dumps(DOC)}},
            "GET http://etcd:2379/v2/keys/themis/topology",
        ),
        (
            "http://consul:8500/v1/kv/themis/topology",
            [{"Key": "themis/topology", "Value": DOC_B64}],
            "GET http://consul:8500/v1/kv/themis/topology",
        ),
    ],
)
def test_full_url_sources(metadata: str, answer: Any, expected: str) -> None:
    seen: list[httpx.Request] = []
    transport = _serve(httpx.Response(200, json=answer), seen)
    client = ThemisClient(
        ["http://boot:1"], metadata_endpoint=metadata, transport=transport, token="t"
    )
    assert client.topology() == Topology(3, (Shard("x", "http://x:1"),))
    assert [f"{r.method} {r.url.copy_with(query=None)}" for r in seen] == [expected]
    assert "authorization" not in seen[0].headers


def test_etcd3_sends_base64_key() -> None:
    seen: list[httpx.Request] = []
    transport = _serve(httpx.Response(200, json={"kvs": [{"value": DOC_B64}]}), seen)
    client = ThemisClient(
        ["http://boot:1"],
        metadata_endpoint="etcd://e:1/themis/topology",
        transport=transport,
    )
    client.topology()
    assert seen[0].content == b'{"key":"L3RoZW1pcy90b3BvbG9neQ=="}'


def test_fallback_to_bootstrap_and_retry_after_backoff() -> None:
    seen: list[httpx.Request] = []
    transport = _serve(
        httpx.Response(404, json={"message": "Endpoint not found"}), seen
    )
    now = [0.0]
    client = ThemisClient(
        ["http://a:1/", "http://b:1"], transport=transport, _clock=lambda: now[0]
    )
    assert client.topology() == Topology(
        -1, (Shard("http://a:1", "http://a:1"), Shard("http://b:1", "http://b:1"))
    )
    assert len(seen) == 2
    client.topology()
    assert len(seen) == 2
    now[0] = 6.0
    client.topology()
    assert len(seen) == 4


def test_etcd_without_key_falls_back() -> None:
    transport = _serve(httpx.Response(200, json={"header": {}}), [])
    client = ThemisClient(
        ["http://a:1"], metadata_endpoint="etcd://e:1/k", transport=transport
    )
    assert client.topology().shard_ids == ["http://a:1"]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            httpx.Response(200, content=b"<html>"),
            "expected topology JSON from http://a:1/_admin/cluster/topology, "
            "got b'<html>'",
        ),
        (
            httpx.Response(200, json={"version": 1.5, "shards": ["http://a:1"]}),
            "expected an integer 'version' in the topology from "
            "http://a:1/_admin/cluster/topology, got 1.5",
        ),
    ],
)
def test_malformed_topology_raises(answer: httpx.Response, message: str) -> None:
    client = ThemisClient(["http://a:1"], transport=_serve(answer, []))
    with pytest.raises(TopologyError) as info:
        client.get("relational", "users", "1")
    assert str(info.value) == message


def test_malformed_etcd_payload_raises() -> None:
    transport = _serve(httpx.Response(200, json={"kvs": [{"value": "!!"}]}), [])
    client = ThemisClient(
        ["http://a:1"], metadata_endpoint="etcd://e:1/k", transport=transport
    )
    with pytest.raises(
        TopologyError, match="expected an etcd3 answer holding topology JSON from "
    ):
        client.topology()


def test_refresh_after_ttl_installs_new_version() -> None:
    cluster = FakeCluster(2)
    now = [0.0]
    client = cluster.client(topology_ttl=10.0, _clock=lambda: now[0])
    assert client.topology().version == 1
    cluster.version = 2
    cluster.nodes["node1"].endpoint = "http://node1:9999"
    now[0] = 5.0
    assert client.topology().version == 1
    now[0] = 11.0
    assert client.topology().shard("s1").endpoint == "http://node1:9999"
    assert cluster.topology_fetches == 2


def test_connection_error_refreshes_and_reroutes() -> None:
    cluster = FakeCluster(3)
    client = cluster.client()
    client.put("relational", "users", "1", {"n": 1})
    holder = cluster.holder("relational.default.users:1")
    cluster.move(holder, "moved")
    assert client.get("relational", "users", "1") == {"n": 1}
    assert client.topology().shard(holder.shard_id).endpoint == "http://moved:8765"
    assert cluster.topology_fetches == 2


def test_refresh_is_single_flight() -> None:
    cluster = FakeCluster(3)
    inner = cluster.handle

    def slow(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/_admin/cluster/topology":
            time.sleep(0.05)
        return inner(request)

    client = ThemisClient(cluster.endpoints[:1], transport=httpx.MockTransport(slow))
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            client.put("relational", "users", str(i), {"i": i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert cluster.topology_fetches == 1


def _naming_versions() -> tuple[FakeCluster, dict[str, str], httpx.MockTransport]:
    """A fake cluster whose answers name the version in ``served["version"]``."""
    cluster = FakeCluster(2)
    served = {"version": "1"}

    def handle(request: httpx.Request) -> httpx.Response:
        answer = cluster.handle(request)
        answer.headers["X-Themis-Topology-Version"] = served["version"]
        return answer

    return cluster, served, httpx.MockTransport(handle)


def _versions_sent(cluster: FakeCluster) -> list[str]:
    return [
        r.headers.get("X-Themis-Topology-Version", "")
        for r in cluster.requests
        if r.url.path.startswith("/entities")
    ]


def test_an_answer_naming_a_newer_topology_makes_the_client_read_it_again() -> None:
    cluster, served, transport = _naming_versions()
    client = ThemisClient(cluster.endpoints, transport=transport, topology_ttl=3600.0)
    client.put("relational", "users", "1", {"n": 1})
    fetches = cluster.topology_fetches
    for seen in ("1", "0", "x2", ""):
        served["version"] = seen
        assert client.get("relational", "users", "1") == {"n": 1}
    assert cluster.topology_fetches == fetches
    cluster.version = 2
    served["version"] = "2"
    client.get("relational", "users", "1")
    assert cluster.topology_fetches == fetches
    client.get("relational", "users", "1")
    assert cluster.topology_fetches == fetches + 1
    assert client.topology().version == 2
    assert _versions_sent(cluster) == ["1"] * 6 + ["2"]


def test_the_async_client_reads_a_newer_topology_named_in_an_answer() -> None:
    cluster, served, transport = _naming_versions()

    async def scenario() -> None:
        async with AsyncThemisClient(
            cluster.endpoints, transport=transport, topology_ttl=3600.0
        ) as client:
            await client.put("relational", "users", "1", {"n": 1})
            fetches = cluster.topology_fetches
            cluster.version = 2
            served["version"] = "2"
            assert await client.get("relational", "users", "1") == {"n": 1}
            await client.get("relational", "users", "1")
            assert cluster.topology_fetches == fetches + 1
            assert (await client.topology()).version == 2

    asyncio.run(scenario())
    assert _versions_sent(cluster) == ["1", "1", "2"]
