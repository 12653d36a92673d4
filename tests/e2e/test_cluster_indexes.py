"""Index and named-graph definitions sent to one node of a cluster reach every shard."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx

from themis import ThemisClient
from themis.server.http import PEER_HEADER
from themis.server.launcher import LocalCluster


def _listed(cluster: LocalCluster, table: str) -> list[list[dict[str, Any]]]:
    """Each node's own indexes on ``table``."""
    return [
        httpx.get(f"{url}/index/list", params={"table": table}).json()["indexes"]
        for url in cluster.urls
    ]


def _loaded(cluster: LocalCluster) -> str:
    table = f"ix{uuid.uuid4().hex[:8]}"
    docs = {f"{n:03}": {"n": n, "tag": f"t{n % 7}"} for n in range(90)}
    with ThemisClient(cluster.urls) as client:
        assert client.batch_put("relational", table, docs).failed == {}
    return table


def test_an_index_created_on_one_node_exists_on_every_shard(
    cluster: LocalCluster,
) -> None:
    table = _loaded(cluster)
    body = {"table": table, "column": "tag", "type": "range"}
    first = httpx.post(f"{cluster.urls[1]}/index/create", json=body)
    assert first.status_code == 200, first.text
    assert first.json()["created"] is True
    listed = _listed(cluster, table)
    assert all(len(indexes) == 1 for indexes in listed)
    assert all(indexes == listed[0] for indexes in listed)
    again = httpx.post(f"{cluster.urls[2]}/index/create", json=body)
    assert again.json()["created"] is False
    with ThemisClient(cluster.urls) as client:
        rows = client.query(
            f"FOR d IN {table} FILTER d.tag == 't3' SORT d.n RETURN d.n"
        ).items
    assert rows == [n for n in range(90) if n % 7 == 3]
    dropped = httpx.post(f"{cluster.urls[0]}/index/drop", json=body)
    assert dropped.json()["dropped"] is True
    assert _listed(cluster, table) == [[], [], []]


def test_a_shard_refusing_the_definition_leaves_it_on_none(
    cluster: LocalCluster,
) -> None:
    table = _loaded(cluster)
    # One shard alone already indexes the field otherwise.
    other = {"table": table, "column": "tag", "type": "equality"}
    local = httpx.post(
        f"{cluster.urls[2]}/index/create", json=other, headers={PEER_HEADER: "test"}
    )
    assert local.json()["created"] is True
    body = {"table": table, "column": "tag", "type": "range"}
    refused = httpx.post(f"{cluster.urls[0]}/index/create", json=body)
    assert refused.status_code == 409
    assert "exists with other settings" in refused.json()["message"]
    shard = str(cluster.nodes[2].shard_id)
    assert f"shard {shard!r}" in refused.json()["message"]
    listed = _listed(cluster, table)
    assert listed[0] == listed[1] == []
    assert [index["type"] for index in listed[2]] == ["equality"]


def test_a_unique_index_the_data_breaks_is_created_nowhere(
    cluster: LocalCluster,
) -> None:
    table = _loaded(cluster)
    body = {"table": table, "column": "tag", "unique": True}
    refused = httpx.post(f"{cluster.urls[0]}/index/create", json=body)
    assert refused.status_code == 409
    assert "share a value" in refused.json()["message"]
    assert _listed(cluster, table) == [[], [], []]


def test_definitions_wait_for_every_shard(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, shards=2) as pair:
        first, second = pair.nodes
        second.stop()
        body = {"table": "people", "column": "email"}
        refused = httpx.post(f"{first.url}/index/create", json=body)
        assert refused.status_code == 503
        assert f"shard {second.shard_id!r} did not answer" in refused.json()["message"]
        listed = httpx.get(f"{first.url}/index/list", params={"table": "people"})
        assert listed.json()["indexes"] == []
        graph = {"name": "friends", "edge_definitions": [{"collection": "knows"}]}
        refused = httpx.post(f"{first.url}/graph", json=graph)
        assert refused.status_code == 503
        assert f"shard {second.shard_id!r} did not answer" in refused.json()["message"]
        assert _graph(first.url, "friends") == 404
        second.start()
        created = httpx.post(f"{first.url}/index/create", json=body)
        assert created.status_code == 200 and created.json()["created"] is True
        for node in pair.nodes:
            listed = httpx.get(f"{node.url}/index/list", params={"table": "people"})
            assert len(listed.json()["indexes"]) == 1


def _graph(url: str, name: str) -> int:
    return httpx.get(f"{url}/graph/{name}").status_code


def test_a_named_graph_is_defined_and_deleted_on_every_shard(
    cluster: LocalCluster,
) -> None:
    name = f"g{uuid.uuid4().hex[:8]}"
    body = {"name": name, "edge_definitions": [{"collection": "knows"}]}
    created = httpx.post(f"{cluster.urls[0]}/graph", json=body)
    assert created.status_code == 201, created.text
    assert [_graph(url, name) for url in cluster.urls] == [200, 200, 200]
    assert httpx.post(f"{cluster.urls[2]}/graph", json=body).status_code == 409
    deleted = httpx.delete(f"{cluster.urls[1]}/graph/{name}")
    assert deleted.status_code == 200
    assert [_graph(url, name) for url in cluster.urls] == [404, 404, 404]
    assert httpx.delete(f"{cluster.urls[1]}/graph/{name}").status_code == 404


def test_a_graph_name_taken_on_one_shard_is_refused_on_all(
    cluster: LocalCluster,
) -> None:
    name = f"g{uuid.uuid4().hex[:8]}"
    body = {"name": name, "edge_definitions": [{"collection": "knows"}]}
    taken = httpx.post(
        f"{cluster.urls[2]}/graph", json=body, headers={PEER_HEADER: "test"}
    )
    assert taken.status_code == 201
    refused = httpx.post(f"{cluster.urls[0]}/graph", json=body)
    assert refused.status_code == 409
    shard = str(cluster.nodes[2].shard_id)
    assert f"shard {shard!r}" in refused.json()["message"]
    assert [_graph(url, name) for url in cluster.urls] == [404, 404, 200]
    # Deleting through any node clears the one shard holding it.
    assert httpx.delete(f"{cluster.urls[0]}/graph/{name}").status_code == 200
    assert _graph(cluster.urls[2], name) == 404


def test_a_unique_index_on_a_cluster_says_it_holds_within_each_shard(
    cluster: LocalCluster,
) -> None:
    table = f"uq{uuid.uuid4().hex[:8]}"
    body = {"table": table, "column": "email", "unique": True}
    created = httpx.post(f"{cluster.urls[0]}/index/create", json=body)
    assert created.status_code == 200, created.text
    assert created.json()["unique_scope"] == "shard"
    plain = httpx.post(
        f"{cluster.urls[0]}/index/create", json={"table": table, "column": "name"}
    )
    assert "unique_scope" not in plain.json()


def test_deleting_a_graph_whose_name_holds_url_characters_spares_others(
    cluster: LocalCluster,
) -> None:
    name = f"g{uuid.uuid4().hex[:8]}"
    body = {"name": name, "edge_definitions": [{"collection": "knows"}]}
    assert httpx.post(f"{cluster.urls[0]}/graph", json=body).status_code == 201
    # "<name>#x" is no graph; the part after '#' must not be cut off on the way.
    missing = httpx.delete(f"{cluster.urls[1]}/graph/{name}%23x")
    assert missing.status_code == 404
    assert [_graph(url, name) for url in cluster.urls] == [200, 200, 200]
    assert httpx.delete(f"{cluster.urls[1]}/graph/{name}").status_code == 200
