"""A key sent to a node that does not own it is served by its owner."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from themis import ThemisClient, _routing
from themis.server.http import PEER_HEADER
from themis.server.launcher import LocalCluster, NodeProcess

LOCAL = {PEER_HEADER: "test"}


def _roles(cluster: LocalCluster, key: str) -> tuple[NodeProcess, NodeProcess]:
    """The key's owner, and another node."""
    ids = [str(node.shard_id) for node in cluster.nodes]
    owner_id = _routing.owner(ids, _routing.routing_key(key))
    owner = next(node for node in cluster.nodes if node.shard_id == owner_id)
    other = next(node for node in cluster.nodes if node.shard_id != owner_id)
    return owner, other


def test_single_key_routes_reach_the_owner_from_any_node(
    cluster: LocalCluster,
) -> None:
    pk = uuid.uuid4().hex
    key = f"relational.default.routed:{pk}"
    owner, other = _roles(cluster, key)
    put = httpx.put(f"{other.url}/entities/{key}", json={"blob": '{"a": 1}'})
    assert put.status_code == 201, put.text
    assert httpx.get(f"{owner.url}/entities/{key}", headers=LOCAL).status_code == 200
    assert httpx.get(f"{other.url}/entities/{key}", headers=LOCAL).status_code == 404
    with ThemisClient(cluster.urls) as client:
        assert client.get("relational", "routed", pk) == {"a": 1}
    assert httpx.get(f"{other.url}/entities/{key}").json()["blob"] == '{"a": 1}'
    posted = httpx.post(f"{other.url}/entities", json={"key": key, "blob": '{"a": 2}'})
    assert posted.status_code == 201
    assert httpx.get(f"{owner.url}/entities/{key}").json()["blob"] == '{"a": 2}'
    assert httpx.delete(f"{other.url}/entities/{key}").status_code == 200
    gone = httpx.delete(f"{other.url}/entities/{key}")
    assert gone.status_code == 404
    assert gone.json()["message"] == f"Entity not found: {key!r}"


def test_bad_input_is_refused_before_it_travels(cluster: LocalCluster) -> None:
    key = f"relational.default.routed:{uuid.uuid4().hex}"
    _, other = _roles(cluster, key)
    refused = httpx.put(f"{other.url}/entities/{key}", json={"blob": 5})
    assert refused.status_code == 400
    assert "blob" in refused.json()["message"]


def test_a_key_whose_owner_is_down_says_which_shard(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, shards=2) as pair:
        key = f"relational.default.routed:{uuid.uuid4().hex}"
        owner, other = _roles(pair, key)
        owner.stop()
        answer = httpx.get(f"{other.url}/entities/{key}")
        assert answer.status_code == 503
        assert f"shard {owner.shard_id!r} did not answer" in answer.json()["message"]
