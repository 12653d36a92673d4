"""Topology in a real etcd: nodes follow it, keep liveness, and the SDK reads it."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest

from tests.cluster.conftest import Etcd
from tests.http_stub import serving
from themis import ThemisClient, TopologyError, _routing
from themis.server.etcd import EtcdLocation, live_nodes
from themis.server.launcher import LocalCluster, NodeProcess, free_port
from themis.server.state import NodeState
from themis.server.topology import EtcdTopology

KEY = "/themis-etcd-test/topology"
NODES = "/themis-etcd-test/nodes/"


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``check`` until it holds; fail the test when it never does."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition {check.__name__} did not hold within {timeout} s")
        time.sleep(0.05)


def served_version(url: str) -> int:
    """The topology version a node serves."""
    version: int = httpx.get(f"{url}/_admin/cluster/topology").json()["version"]
    return version


@pytest.fixture(scope="module")
def etcd_cluster(
    etcd: Etcd, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    """Three shards whose topology lives in etcd."""
    root = tmp_path_factory.mktemp("etcd-cluster")
    with LocalCluster(root, shards=3, etcd_url=etcd.etcd_url(KEY)) as cluster:
        yield cluster


def test_nodes_serve_the_topology_from_etcd(etcd_cluster: LocalCluster) -> None:
    published = etcd_cluster.topology()
    for url in etcd_cluster.urls:
        assert httpx.get(f"{url}/_admin/cluster/topology").json() == published


def test_nodes_keep_liveness_records(etcd: Etcd, etcd_cluster: LocalCluster) -> None:
    assert EtcdLocation.parse(etcd.etcd_url(KEY)).nodes_prefix == NODES
    client = etcd.client()
    try:
        records = live_nodes(client, NODES)
    finally:
        client.close()
    assert records == {
        node.shard_id: {"id": node.shard_id, "http_endpoint": node.url}
        for node in etcd_cluster.nodes
        if node.shard_id is not None
    }


@pytest.mark.parametrize("form", ["etcd", "gateway"])
def test_sdk_reads_topology_from_etcd(
    etcd: Etcd, etcd_cluster: LocalCluster, form: str
) -> None:
    source = etcd.etcd_url(KEY)
    if form == "gateway":
        source = f"{etcd.url}/v3/kv/range?key={KEY}"
    # A dead bootstrap endpoint proves that every route comes from etcd.
    dead = f"http://127.0.0.1:{free_port()}"
    with ThemisClient([dead], metadata_endpoint=source) as client:
        topology = client.topology()
        assert topology.version == etcd_cluster.version
        assert topology.shard_ids == ["shard-1", "shard-2", "shard-3"]
        for uuid in ("a", "b", "c", "d", "e", "f"):
            assert client.put("relational", f"via_{form}", uuid, {"uuid": uuid})
            owner = _owner_url(etcd_cluster, f"relational.default.via_{form}:{uuid}")
            stored = httpx.get(f"{owner}/entities/relational.default.via_{form}:{uuid}")
            assert stored.status_code == 200
            assert client.get("relational", f"via_{form}", uuid) == {"uuid": uuid}


def _owner_url(cluster: LocalCluster, wire_key: str) -> str:
    ids = [node.shard_id for node in cluster.nodes if node.shard_id is not None]
    owner = _routing.owner(ids, _routing.routing_key(wire_key))
    return next(node.url for node in cluster.nodes if node.shard_id == owner)


def test_sdk_falls_back_to_bootstrap_when_etcd_is_down(
    etcd_cluster: LocalCluster,
) -> None:
    unreachable = f"etcd://127.0.0.1:{free_port()}{KEY}"
    node = etcd_cluster.urls[0]
    with ThemisClient([node], metadata_endpoint=unreachable, max_retries=0) as client:
        topology = client.topology()
        assert topology.version == -1
        assert [shard.endpoint for shard in topology.shards] == [node]
        assert client.health()["status"] == "healthy"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (b"not json", "expected an etcd3 answer holding topology JSON from "),
        (
            b'{"version": 1, "shards": []}',
            "expected a non-empty list 'shards' in the topology from ",
        ),
        (
            b'{"version": "two", "shards": ["http://127.0.0.1:1"]}',
            "expected an integer 'version' in the topology from ",
        ),
    ],
)
def test_malformed_topology_in_etcd_raises(
    etcd: Etcd, document: bytes, expected: str
) -> None:
    client = etcd.client()
    try:
        client.put("/themis-bad/topology", document)
    finally:
        client.close()
    source = etcd.etcd_url("/themis-bad/topology")
    with (
        ThemisClient(["http://127.0.0.1:1"], metadata_endpoint=source) as sdk,
        pytest.raises(TopologyError) as caught,
    ):
        sdk.topology()
    assert str(caught.value).startswith(expected)


class _ConsulKV(BaseHTTPRequestHandler):
    """Consul's ``GET /v1/kv/<key>``: a list of entries with a base64 ``Value``."""

    store: dict[str, bytes] = {}

    def do_GET(self) -> None:
        key = self.path.split("?")[0].removeprefix("/v1/kv/")
        value = self.store.get(key)
        if value is None:
            self.send_response(404)
            self.end_headers()
            return
        entry = {"Key": key, "Value": base64.b64encode(value).decode(), "Flags": 0}
        body = json.dumps([entry]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def consul() -> Iterator[str]:
    """A tiny Consul KV stand-in on loopback; yields its base URL."""
    with serving(_ConsulKV) as url:
        yield url


def test_sdk_reads_topology_from_consul(
    consul: str, etcd_cluster: LocalCluster
) -> None:
    _ConsulKV.store["themis/topology"] = json.dumps(etcd_cluster.topology()).encode()
    source = f"{consul}/v1/kv/themis/topology"
    with ThemisClient(["http://127.0.0.1:1"], metadata_endpoint=source) as client:
        assert client.topology().shard_ids == ["shard-1", "shard-2", "shard-3"]
        assert client.put("relational", "via_consul", "k1", {"n": 1})
        assert client.get("relational", "via_consul", "k1") == {"n": 1}
    missing = f"{consul}/v1/kv/themis/absent"
    with ThemisClient([etcd_cluster.urls[0]], metadata_endpoint=missing) as client:
        assert client.topology().version == -1


def test_topology_changes_reach_clients_and_nodes(
    etcd: Etcd, etcd_cluster: LocalCluster, tmp_path: Path
) -> None:
    """A shard is added, then moves to another port; nobody restarts."""
    extra = NodeProcess(
        tmp_path / "shard-4", shard_id="shard-4", topology=etcd.etcd_url(KEY)
    ).start()
    assert _liveness(etcd)["shard-4"]["http_endpoint"] == extra.url
    try:
        with ThemisClient(
            etcd_cluster.urls[:1],
            metadata_endpoint=etcd.etcd_url(KEY),
            topology_ttl=0.1,
        ) as client:
            assert len(client.topology().shards) == 3
            _publish(etcd_cluster, extra, version=etcd_cluster.version + 1)
            _await_version(client, etcd_cluster, etcd_cluster.version + 1)
            docs = {f"{i:03}": {"i": i} for i in range(60)}
            assert client.batch_put("relational", "grown", docs).failed == {}
            on_extra = _count(extra.url, "grown")
            assert 0 < on_extra < 60
            assert client.query("FOR d IN grown RETURN d").count == 60

            extra.stop()
            moved = NodeProcess(
                extra.data_dir, shard_id="shard-4", topology=etcd.etcd_url(KEY)
            ).start()
            extra = moved
            _publish(etcd_cluster, moved, version=etcd_cluster.version + 2)
            _await_version(client, etcd_cluster, etcd_cluster.version + 2)
            assert client.topology().shard("shard-4").endpoint == moved.url
            found = client.batch_get("relational", "grown", list(docs)).found
            assert found == docs
            assert client.query("FOR d IN grown RETURN d").count == 60
    finally:
        extra.stop()
        etcd_cluster.version += 3
        etcd_cluster.publish(etcd_cluster.topology())
    assert "shard-4" not in _liveness(etcd)


def _liveness(etcd: Etcd) -> dict[str, dict[str, Any]]:
    client = etcd.client()
    try:
        return live_nodes(client, NODES)
    finally:
        client.close()


def _publish(cluster: LocalCluster, extra: NodeProcess, version: int) -> None:
    document = cluster.topology(version)
    shards = document["shards"]
    assert isinstance(shards, list)
    shards.append({"id": "shard-4", "http_endpoint": extra.url})
    cluster.publish(document)


def _await_version(client: ThemisClient, cluster: LocalCluster, version: int) -> None:
    def client_sees_it() -> bool:
        return client.topology().version == version

    def nodes_see_it() -> bool:
        return all(served_version(url) == version for url in cluster.urls)

    wait_until(client_sees_it, timeout=5.0)
    wait_until(nodes_see_it, timeout=10.0)


def _count(url: str, collection: str) -> int:
    body = {"query": f"FOR d IN {collection} RETURN 1", "scope": "local"}
    count: int = httpx.post(f"{url}/query/aql", json=body).json()["count"]
    return count


def test_a_node_follows_only_newer_topologies(etcd: Etcd) -> None:
    key = "/themis-etcd-newer/topology"
    shards = [{"id": "shard-1", "http_endpoint": "http://127.0.0.1:1"}]
    writer = etcd.client()
    follower = EtcdTopology(etcd.etcd_url(key))
    try:
        writer.put(key, json.dumps({"version": 4, "shards": shards}).encode())
        adopted = {"version": 5, "shards": shards * 2}
        node = cast(NodeState, SimpleNamespace(topology=adopted))
        # A read that saw the version before the one the node adopted since.
        follower.refresh(node)
        assert node.topology is adopted
        newer = {"version": 6, "shards": shards}
        writer.put(key, json.dumps(newer).encode())
        follower.refresh(node)
        assert node.topology == newer
    finally:
        writer.close()
        follower.client.close()
