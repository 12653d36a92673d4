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


def _held(cluster: LocalCluster, keys: list[str]) -> dict[str, set[str]]:
    """Which keys each shard holds itself."""
    held = {}
    for node in cluster.nodes:
        answer = httpx.post(f"{node.url}/batch/get", json={"keys": keys}, headers=LOCAL)
        held[str(node.shard_id)] = set(answer.json()["found"])
    return held


def _owner_of(cluster: LocalCluster, key: str) -> str:
    ids = [str(node.shard_id) for node in cluster.nodes]
    return _routing.owner(ids, _routing.routing_key(key))


def test_batches_sent_to_one_node_land_on_the_owners(cluster: LocalCluster) -> None:
    table = f"relational.default.spread{uuid.uuid4().hex[:8]}"
    keys = [f"{table}:k{n}" for n in range(60)]
    items = [{"key": key, "blob": f'{{"n": {n}}}'} for n, key in enumerate(keys)]
    items.append({"key": "no colon", "blob": "{}"})
    url = cluster.urls[0]
    put = httpx.post(f"{url}/batch/put", json={"items": items}).json()
    assert sorted(put["succeeded"]) == sorted(keys)
    assert list(put["failed"]) == ["no colon"]
    held = _held(cluster, keys)
    for key in keys:
        assert [s for s, found in held.items() if key in found] == [
            _owner_of(cluster, key)
        ]
    asked = [*keys[:30], f"{table}:absent"]
    got = httpx.post(
        f"{cluster.urls[1]}/batch/get", json={"keys": asked, "positional": True}
    ).json()
    assert got["documents"][:30] == [f'{{"n": {n}}}' for n in range(30)]
    assert got["missing"] == [30]
    deleted = httpx.post(
        f"{cluster.urls[2]}/batch/delete", json={"keys": [*keys[:20], f"{table}:x"]}
    ).json()
    assert sorted(deleted["succeeded"]) == sorted(keys[:20])
    assert deleted["missing"] == [f"{table}:x"]
    with ThemisClient(cluster.urls) as client:
        result = client.batch_get("relational", table.rsplit(".", 1)[1], ["k0", "k25"])
    assert result.missing == ["k0"]
    assert result.found == {"k25": {"n": 25}}


def test_keys_of_a_shard_that_does_not_answer_fail_alone(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, shards=2) as pair:
        keys = [f"relational.default.half:k{n}" for n in range(20)]
        down = pair.nodes[1]
        down.stop()
        items = [{"key": key, "blob": "{}"} for key in keys]
        put = httpx.post(f"{pair.urls[0]}/batch/put", json={"items": items}).json()
        lost = {key for key in keys if _owner_of(pair, key) == down.shard_id}
        assert lost and set(put["failed"]) == lost
        assert set(put["succeeded"]) == set(keys) - lost
        assert all("did not answer" in reason for reason in put["failed"].values())


def test_a_client_with_a_newer_topology_is_trusted_and_an_older_one_not(
    cluster: LocalCluster,
) -> None:
    key = f"relational.default.routed:{uuid.uuid4().hex}"
    owner, other = _roles(cluster, key)
    version = cluster.topology()["version"]
    assert isinstance(version, int)
    # A client that read a newer topology than this node knows where the key goes.
    newer = {"X-Themis-Topology-Version": str(version + 1)}
    put = httpx.put(
        f"{other.url}/entities/{key}", json={"blob": '{"v": 1}'}, headers=newer
    )
    assert put.status_code == 201
    assert httpx.get(f"{other.url}/entities/{key}", headers=LOCAL).status_code == 200
    assert httpx.get(f"{owner.url}/entities/{key}", headers=LOCAL).status_code == 404
    assert httpx.delete(f"{other.url}/entities/{key}", headers=newer).status_code == 200
    # One routed by an older topology is passed on, single keys and batches alike.
    older = {"X-Themis-Topology-Version": str(version - 1)}
    put = httpx.put(
        f"{other.url}/entities/{key}", json={"blob": '{"v": 2}'}, headers=older
    )
    assert put.status_code == 201
    assert httpx.get(f"{owner.url}/entities/{key}", headers=LOCAL).status_code == 200
    batch = {"items": [{"key": key, "blob": '{"v": 3}'}]}
    marked = {**older, "X-Themis-Shard": str(other.shard_id)}
    written = httpx.post(f"{other.url}/batch/put", json=batch, headers=marked)
    assert written.status_code == 200, written.text
    assert (
        httpx.get(f"{owner.url}/entities/{key}", headers=LOCAL).json()["blob"]
        == '{"v": 3}'
    )
    assert httpx.get(f"{other.url}/entities/{key}", headers=LOCAL).status_code == 404
