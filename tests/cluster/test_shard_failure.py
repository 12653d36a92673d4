"""A shard killed with SIGKILL during a query or a batch, and brought back."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from themis import ThemisClient, _routing
from themis.errors import ThemisHTTPError
from themis.server.launcher import LocalCluster, NodeProcess

DOCS = 3000
QUERY = "FOR d IN items RETURN d"


@pytest.fixture(scope="module")
def cluster3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Three shards holding ``DOCS`` documents in ``items``."""
    with LocalCluster(tmp_path_factory.mktemp("failing"), shards=3) as cluster:
        with ThemisClient(cluster.urls) as client:
            docs = {f"{i:05}": {"n": i} for i in range(DOCS)}
            assert client.batch_put("relational", "items", docs).failed == {}
        yield cluster


@pytest.fixture
def client(cluster3: LocalCluster) -> Iterator[ThemisClient]:
    """A client of the cluster that retries quickly."""
    with ThemisClient(cluster3.urls, max_retries=1) as sdk:
        yield sdk


def victim(cluster: LocalCluster, text: str) -> NodeProcess:
    """A shard other than the one coordinating ``text``, so the query reaches it."""
    ids = [node.shard_id for node in cluster.nodes if node.shard_id is not None]
    coordinator = _routing.owner(ids, text)
    return next(node for node in cluster.nodes if node.shard_id != coordinator)


def owned_by(
    cluster: LocalCluster,
    shard_id: str | None,
    uuids: list[str],
    collection: str = "items",
) -> set[str]:
    """The uuids of ``collection`` that ``shard_id`` owns."""
    ids = [node.shard_id for node in cluster.nodes if node.shard_id is not None]
    return {
        uuid
        for uuid in uuids
        if _routing.owner(
            ids, _routing.routing_key(f"relational.default.{collection}:{uuid}")
        )
        == shard_id
    }


def test_cursor_query_fails_naming_the_killed_shard(
    cluster3: LocalCluster, client: ThemisClient
) -> None:
    dead = victim(cluster3, QUERY)
    page = client.query(QUERY, use_cursor=True, batch_size=100)
    assert page.has_more
    dead.kill()
    try:
        with pytest.raises(ThemisHTTPError) as caught:
            while page.has_more:
                page = client.query(QUERY, cursor=page.next_cursor, batch_size=100)
        assert caught.value.status_code == 503
        assert f"shard {dead.shard_id!r} at {dead.url} did not answer" in str(
            caught.value
        )
    finally:
        dead.start()
    rows = list(client.query_iter(QUERY, batch_size=500))
    assert len(rows) == DOCS


def test_allow_partial_returns_the_other_shards_rows(
    cluster3: LocalCluster, client: ThemisClient
) -> None:
    dead = victim(cluster3, QUERY)
    dead.kill()
    try:
        with pytest.raises(ThemisHTTPError) as caught:
            client.query(QUERY)
        assert caught.value.status_code == 503
        assert f"shard {dead.shard_id!r}" in caught.value.message

        partial = client.query(QUERY, allow_partial=True)
        lost = owned_by(cluster3, dead.shard_id, [f"{i:05}" for i in range(DOCS)])
        assert partial.missing_shards == [dead.shard_id]
        assert partial.count == DOCS - len(lost)
        assert {row["_key"] for row in partial.items}.isdisjoint(lost)
    finally:
        dead.start()
    whole = client.query(QUERY, allow_partial=True)
    assert whole.count == DOCS
    assert whole.missing_shards == []


def test_partial_cursor_pages_name_the_missing_shard(
    cluster3: LocalCluster, client: ThemisClient
) -> None:
    dead = victim(cluster3, QUERY)
    lost = owned_by(cluster3, dead.shard_id, [f"{i:05}" for i in range(DOCS)])
    dead.kill()
    try:
        page = client.query(QUERY, use_cursor=True, batch_size=700, allow_partial=True)
        pages = [page]
        while page.has_more:
            page = client.query(
                QUERY, use_cursor=True, cursor=page.next_cursor, allow_partial=True
            )
            pages.append(page)
    finally:
        dead.start()
    keys = [row["_key"] for p in pages for row in p.items]
    assert len(keys) == DOCS - len(lost)
    assert set(keys).isdisjoint(lost)
    assert all(p.missing_shards == [dead.shard_id] for p in pages)


def test_any_node_coordinates_when_the_first_choice_is_dead(
    cluster3: LocalCluster, client: ThemisClient
) -> None:
    ids = [node.shard_id for node in cluster3.nodes if node.shard_id is not None]
    coordinator = _routing.owner(ids, QUERY)
    dead = next(node for node in cluster3.nodes if node.shard_id == coordinator)
    dead.kill()
    try:
        partial = client.query(QUERY, allow_partial=True)
        assert partial.missing_shards == [coordinator]
    finally:
        dead.start()


def test_batches_report_the_dead_shard_and_lose_nothing_acknowledged(
    cluster3: LocalCluster, client: ThemisClient
) -> None:
    docs = {f"b{i:04}": {"n": i} for i in range(300)}
    dead = cluster3.nodes[1]
    lost = owned_by(cluster3, dead.shard_id, list(docs), "batched")
    dead.kill()
    try:
        written = client.batch_put("relational", "batched", docs)
        assert set(written.failed) == lost
        assert all(
            reason.startswith(f"shard {dead.shard_id!r} failed: ")
            for reason in written.failed.values()
        )
        assert set(written.succeeded) == set(docs) - lost

        read = client.batch_get("relational", "batched", list(docs))
        assert set(read.errors) == lost
        assert set(read.found) == set(docs) - lost
    finally:
        dead.start()
    rest = {uuid: docs[uuid] for uuid in lost}
    assert client.batch_put("relational", "batched", rest).failed == {}
    dead.kill()
    dead.start()
    assert client.batch_get("relational", "batched", list(docs)).found == docs
    assert client.query("FOR d IN batched RETURN d").count == 300


def test_kill_during_a_batch_keeps_every_acknowledged_write(
    cluster3: LocalCluster, client: ThemisClient
) -> None:
    docs = {f"m{i:05}": {"n": i, "pad": "x" * 200} for i in range(30_000)}
    dead = cluster3.nodes[2]
    lost = owned_by(cluster3, dead.shard_id, list(docs), "midway")
    killer = threading.Timer(0.3, dead.kill)
    killer.start()
    try:
        written = client.batch_put("relational", "midway", docs)
    finally:
        killer.join()
        dead.start()
    assert set(written.failed) <= lost
    assert all(
        reason.startswith(f"shard {dead.shard_id!r} failed: ")
        for reason in written.failed.values()
    )
    read = client.batch_get("relational", "midway", written.succeeded)
    assert read.errors == {}
    assert read.found == {uuid: docs[uuid] for uuid in written.succeeded}
