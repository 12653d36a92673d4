"""Pushed-down COLLECT: one node and three shards return identical results."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.aql.pushdown_cases import DOCS, QUERIES
from themis import ThemisClient, _routing
from themis.server.launcher import LocalCluster, NodeProcess

BULK = [{"_key": f"b{i:04d}", "grp": i % 3, "v": i} for i in range(900)]


def _items(name: str, docs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (
            f"{name}:{d['_key']}",
            orjson.dumps({k: v for k, v in d.items() if k != "_key"}).decode(),
        )
        for d in docs
    ]


def _store(shards: dict[str, str]) -> None:
    placed: dict[str, list[dict[str, str]]] = {url: [] for url in shards.values()}
    for key, blob in _items("t", DOCS) + _items("bulk", BULK):
        owner = _routing.owner(list(shards), _routing.routing_key(key))
        placed[shards[owner]].append({"key": key, "blob": blob})
    for url, items in placed.items():
        response = httpx.post(f"{url}/batch/put", json={"items": items}, timeout=30)
        assert response.json()["failed"] == {}


@pytest.fixture(scope="module")
def clients(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ThemisClient, ThemisClient, list[str]]]:
    root = tmp_path_factory.mktemp("aggregate")
    with NodeProcess(root / "single") as node, LocalCluster(root, shards=3) as cluster:
        _store({"0": node.url})
        _store({str(n.shard_id): n.url for n in cluster.nodes})
        with (
            ThemisClient(endpoints=[node.url]) as single,
            ThemisClient(endpoints=cluster.urls[:1]) as sharded,
        ):
            yield single, sharded, cluster.urls[1:]


# A collection without documents exists only in memory sources; the in-process
# pushdown tests cover it.
STORED = [(text, binds) for text, binds in QUERIES if "empty" not in text]


@pytest.mark.parametrize(("text", "binds"), STORED, ids=[q[:50] for q, _ in STORED])
def test_collect_same_on_three_shards(
    clients: tuple[ThemisClient, ThemisClient, list[str]],
    text: str,
    binds: dict[str, Any],
) -> None:
    single, sharded, _ = clients

    expected = single.query(text, params=binds or None).items
    result = sharded.query(text, params=binds or None).items

    assert orjson.dumps(result) == orjson.dumps(expected)


def _peer_bytes(urls: list[str]) -> int:
    return sum(
        httpx.get(f"{url}/stats").json()["network"]["from_peers"]["bytes_sent"]
        for url in urls
    )


def test_collect_moves_one_row_per_group_and_shard(
    clients: tuple[ThemisClient, ThemisClient, list[str]],
) -> None:
    _, sharded, peers = clients
    text = (
        "FOR b IN bulk COLLECT g = b.grp AGGREGATE n = COUNT(), s = SUM(b.v) RETURN [g,"
        " n, s]"
    )
    before = _peer_bytes(peers)

    result = sharded.query(text).items
    moved = _peer_bytes(peers) - before

    assert result == [[0, 300, 134550], [1, 300, 134850], [2, 300, 135150]]
    assert moved < 2000
