"""Transactions on a 3-shard cluster: they read and write every shard at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from themis import (
    AsyncThemisClient,
    ConflictError,
    ThemisClient,
    ThemisHTTPError,
    _routing,
)
from themis.server.launcher import LocalCluster

KEYS = [f"k{i:02d}" for i in range(12)]


@pytest.fixture
def client(cluster: LocalCluster) -> Iterator[ThemisClient]:
    with ThemisClient(endpoints=cluster.urls) as sdk:
        yield sdk


@pytest.fixture
def collection(cluster: LocalCluster) -> str:
    """A new collection whose keys lie on every shard, the coordinator's included."""
    shard_ids = {str(node.shard_id) for node in cluster.nodes}
    while True:
        name = f"tx{uuid.uuid4().hex[:12]}"
        if set(_owners(cluster, name).values()) == shard_ids:
            return name


def _owners(cluster: LocalCluster, collection: str) -> dict[str, str]:
    shard_ids = [str(node.shard_id) for node in cluster.nodes]
    return {
        uuid_: _routing.owner(
            shard_ids, f"urn:themis:relational:default:{collection}:{uuid_}"
        )
        for uuid_ in KEYS
    }


def _coordinator(cluster: LocalCluster) -> str:
    return min(str(node.shard_id) for node in cluster.nodes)


def test_reads_inside_a_transaction_see_every_shard(
    client: ThemisClient, collection: str
) -> None:
    client.batch_put("relational", collection, {k: {"v": k} for k in KEYS})
    with client.begin_transaction("read_committed") as txn:
        assert [txn.get("relational", collection, k) for k in KEYS] == [
            {"v": k} for k in KEYS
        ]
        assert txn.get("relational", collection, "absent") is None
        rows = txn.query(f"FOR d IN {collection} SORT d.v RETURN d.v").items
        assert rows == KEYS


def test_a_batch_read_inside_a_transaction_sees_every_shard(
    cluster: LocalCluster, client: ThemisClient, collection: str
) -> None:
    client.batch_put("relational", collection, {k: {"v": k} for k in KEYS})
    with client.begin_transaction() as txn:
        url = next(n.url for n in cluster.nodes if n.shard_id == _coordinator(cluster))
        body = {
            "table": f"relational.default.{collection}",
            "pks": [*KEYS, "absent", "bad/pk"],
            "positional": True,
        }
        answer = httpx.post(
            f"{url}/batch/get", json=body, headers={"X-Transaction-Id": str(txn.id)}
        ).json()
    assert answer["documents"][: len(KEYS)] == [f'{{"v":"{k}"}}' for k in KEYS]
    assert answer["missing"] == [len(KEYS)]
    assert [error["position"] for error in answer["errors"]] == [len(KEYS) + 1]


def test_snapshot_reads_repeat_on_every_shard(
    client: ThemisClient, collection: str
) -> None:
    client.batch_put("relational", collection, {k: {"v": 1} for k in KEYS})
    txn = client.begin_transaction("snapshot")
    assert all(txn.get("relational", collection, k) == {"v": 1} for k in KEYS)
    client.batch_put("relational", collection, {k: {"v": 2} for k in KEYS})
    assert all(txn.get("relational", collection, k) == {"v": 1} for k in KEYS)
    total = txn.query(
        f"FOR d IN {collection} COLLECT AGGREGATE s = SUM(d.v) RETURN s"
    ).items
    assert total == [len(KEYS)]
    txn.commit()
    assert all(client.get("relational", collection, k) == {"v": 2} for k in KEYS)


def test_read_committed_reads_see_later_commits_on_every_shard(
    client: ThemisClient, collection: str
) -> None:
    client.batch_put("relational", collection, {k: {"v": 1} for k in KEYS})
    with client.begin_transaction("read_committed") as txn:
        assert all(txn.get("relational", collection, k) == {"v": 1} for k in KEYS)
        client.batch_put("relational", collection, {k: {"v": 2} for k in KEYS})
        assert all(txn.get("relational", collection, k) == {"v": 2} for k in KEYS)


def test_a_transaction_commits_writes_on_every_shard_at_once(
    client: ThemisClient, collection: str
) -> None:
    client.batch_put("relational", collection, {k: {"v": 0} for k in KEYS[:6]})
    with client.begin_transaction() as txn:
        for k in KEYS[6:]:
            txn.put("relational", collection, k, {"v": 1})
        assert all(txn.delete("relational", collection, k) for k in KEYS[:6])
        assert not txn.delete("relational", collection, "absent")
        # Private until the commit, on every shard; the transaction sees its own.
        assert client.batch_get("relational", collection, KEYS).missing == KEYS[6:]
        assert [txn.get("relational", collection, k) for k in KEYS] == [None] * 6 + [
            {"v": 1}
        ] * 6
        query = f"FOR d IN {collection} RETURN d.v"
        assert txn.query(query).items == [1] * 6
    after = client.batch_get("relational", collection, KEYS)
    assert after.missing == KEYS[:6]
    assert after.found == {k: {"v": 1} for k in KEYS[6:]}


def test_a_query_inside_a_transaction_finds_collections_it_starts_on_every_shard(
    client: ThemisClient, collection: str
) -> None:
    with client.begin_transaction() as txn:
        for k in KEYS:
            txn.put("relational", collection, k, {"v": k})
        query = f"FOR d IN {collection} SORT d.v RETURN d.v"
        assert txn.query(query).items == KEYS
    assert client.query(query).items == KEYS


def test_a_conflict_on_another_shard_rolls_back_every_shard(
    cluster: LocalCluster, client: ThemisClient, collection: str
) -> None:
    owners = _owners(cluster, collection)
    foreign = next(k for k, o in owners.items() if o != _coordinator(cluster))
    client.batch_put("relational", collection, {k: {"v": 0} for k in KEYS})
    txn = client.begin_transaction()
    for k in KEYS:
        txn.put("relational", collection, k, {"v": 1})
    client.put("relational", collection, foreign, {"v": 9})
    with pytest.raises(ConflictError, match=f"write-write conflict on .*{foreign}"):
        txn.commit()
    expected = {k: {"v": 9 if k == foreign else 0} for k in KEYS}
    assert client.batch_get("relational", collection, KEYS).found == expected
    assert _prepared(cluster) == [0, 0, 0]


def test_a_conflict_on_the_coordinator_rolls_back_every_shard(
    cluster: LocalCluster, client: ThemisClient, collection: str
) -> None:
    owners = _owners(cluster, collection)
    own = next(k for k, o in owners.items() if o == _coordinator(cluster))
    client.batch_put("relational", collection, {k: {"v": 0} for k in KEYS})
    txn = client.begin_transaction()
    for k in KEYS:
        txn.put("relational", collection, k, {"v": 1})
    client.put("relational", collection, own, {"v": 9})
    with pytest.raises(ConflictError):
        txn.commit()
    expected = {k: {"v": 9 if k == own else 0} for k in KEYS}
    assert client.batch_get("relational", collection, KEYS).found == expected
    # The parts prepared on the other shards were rolled back, keys released.
    assert _prepared(cluster) == [0, 0, 0]
    client.batch_put("relational", collection, {k: {"v": 2} for k in KEYS})


def test_rollback_discards_writes_on_every_shard(
    client: ThemisClient, collection: str
) -> None:
    txn = client.begin_transaction()
    for k in KEYS:
        txn.put("relational", collection, k, {"v": 1})
    txn.rollback()
    assert client.batch_get("relational", collection, KEYS).missing == KEYS


def test_views_on_other_shards_end_with_the_transaction(
    cluster: LocalCluster, client: ThemisClient, collection: str
) -> None:
    client.batch_put("relational", collection, {k: {"v": k} for k in KEYS})
    others = [n.url for n in cluster.nodes if n.shard_id != _coordinator(cluster)]
    for finish in ("commit", "rollback"):
        # Parts of earlier transactions end in the background too.
        _wait_for_no_parts(others)
        txn = client.begin_transaction("snapshot")
        for k in KEYS:
            txn.get("relational", collection, k)
        assert [_active(url) for url in others] == [1, 1]
        getattr(txn, finish)()
        # They are rolled back in the background, right after the transaction ends.
        _wait_for_no_parts(others)
        assert [_active(url) for url in others] == [0, 0]


def _wait_for_no_parts(urls: list[str]) -> None:
    deadline = time.monotonic() + 10
    while any(_active(url) for url in urls) and time.monotonic() < deadline:
        time.sleep(0.05)


def _prepared(cluster: LocalCluster) -> list[int]:
    return [
        httpx.get(f"{node.url}/transaction/stats").json()["prepared_count"]
        for node in cluster.nodes
    ]


def _active(url: str) -> int:
    count: int = httpx.get(f"{url}/transaction/stats").json()["active_count"]
    return count


def test_a_read_from_a_shard_that_is_down_is_a_503_naming_it(
    tmp_path: Path, collection: str
) -> None:
    with (
        LocalCluster(tmp_path, shards=3) as own,
        ThemisClient(endpoints=own.urls, max_retries=0) as sdk,
    ):
        sdk.batch_put("relational", collection, {k: {"v": k} for k in KEYS})
        coordinator = _coordinator(own)
        down = next(n for n in own.nodes if str(n.shard_id) != coordinator)
        lost = next(
            k for k, o in _owners(own, collection).items() if o == down.shard_id
        )
        txn = sdk.begin_transaction()
        down.kill()
        with pytest.raises(ThemisHTTPError) as failed:
            txn.get("relational", collection, lost)
        assert failed.value.response.status_code == 503
        assert f"shard {down.shard_id!r} did not answer" in str(failed.value)
        # The node still serves the transaction and its own keys.
        kept = next(k for k, o in _owners(own, collection).items() if o == coordinator)
        assert txn.get("relational", collection, kept) == {"v": kept}
        txn.rollback()


def test_concurrent_transfers_across_shards_keep_the_total(
    client: ThemisClient, collection: str
) -> None:
    accounts = KEYS[:6]
    client.batch_put("relational", collection, {a: {"balance": 100} for a in accounts})
    committed = []

    def transfer(worker: int) -> None:
        for step in range(12):
            source = accounts[(worker + step) % len(accounts)]
            target = accounts[(worker + 2 * step + 1) % len(accounts)]
            if source == target:
                continue
            for _ in range(20):
                txn = client.begin_transaction("snapshot")
                try:
                    a = txn.get("relational", collection, source)
                    b = txn.get("relational", collection, target)
                    txn.put(
                        "relational", collection, source, {"balance": a["balance"] - 7}
                    )
                    txn.put(
                        "relational", collection, target, {"balance": b["balance"] + 7}
                    )
                    txn.commit()
                except ConflictError:
                    if txn.state.value == "active":
                        txn.rollback()
                    continue
                committed.append((source, target))
                break

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(transfer, range(4)))
    balances = client.batch_get("relational", collection, accounts).found
    assert sum(doc["balance"] for doc in balances.values()) == 100 * len(accounts)
    expected = dict.fromkeys(accounts, 100)
    for source, target in committed:
        expected[source] -= 7
        expected[target] += 7
    assert {a: doc["balance"] for a, doc in balances.items()} == expected
    assert committed


def test_the_async_client_commits_across_shards(
    cluster: LocalCluster, collection: str
) -> None:
    async def scenario() -> None:
        async with AsyncThemisClient(endpoints=cluster.urls) as sdk:
            async with await sdk.begin_transaction() as txn:
                for k in KEYS:
                    await txn.put("relational", collection, k, {"v": k})
                assert await txn.get("relational", collection, KEYS[-1]) == {
                    "v": KEYS[-1]
                }
            found = await sdk.batch_get("relational", collection, KEYS)
            assert found.found == {k: {"v": k} for k in KEYS}

    asyncio.run(scenario())
