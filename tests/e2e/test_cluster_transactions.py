"""Transactions on a 3-shard cluster: reads see every shard, writes stay on one."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from themis import ThemisClient, ThemisHTTPError, _routing
from themis.server.launcher import LocalCluster

KEYS = [f"k{i:02d}" for i in range(12)]


@pytest.fixture
def client(cluster: LocalCluster) -> Iterator[ThemisClient]:
    with ThemisClient(endpoints=cluster.urls) as sdk:
        yield sdk


@pytest.fixture
def collection() -> str:
    return f"tx{uuid.uuid4().hex[:12]}"


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


def test_keys_of_the_test_live_on_every_shard(
    cluster: LocalCluster, collection: str
) -> None:
    # The other tests only mean something if the coordinator owns some keys and
    # other shards own the rest.
    assert set(_owners(cluster, collection).values()) == {
        str(node.shard_id) for node in cluster.nodes
    }


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


def test_writes_to_a_key_another_shard_owns_are_refused(
    cluster: LocalCluster, client: ThemisClient, collection: str
) -> None:
    owners = _owners(cluster, collection)
    coordinator = _coordinator(cluster)
    own = next(k for k, owner in owners.items() if owner == coordinator)
    foreign, owner = next((k, o) for k, o in owners.items() if o != coordinator)
    with client.begin_transaction() as txn:
        txn.put("relational", collection, own, {"v": "mine"})
        with pytest.raises(ThemisHTTPError) as refused:
            txn.put("relational", collection, foreign, {"v": "theirs"})
        assert refused.value.response.status_code == 400
        assert f"which shard {owner!r} owns" in str(refused.value)
    assert client.get("relational", collection, own) == {"v": "mine"}
    assert client.get("relational", collection, foreign) is None


def test_views_on_other_shards_end_with_the_transaction(
    cluster: LocalCluster, client: ThemisClient, collection: str
) -> None:
    client.batch_put("relational", collection, {k: {"v": k} for k in KEYS})
    others = [n.url for n in cluster.nodes if n.shard_id != _coordinator(cluster)]
    for finish in ("commit", "rollback"):
        txn = client.begin_transaction("snapshot")
        for k in KEYS:
            txn.get("relational", collection, k)
        assert [_active(url) for url in others] == [1, 1]
        getattr(txn, finish)()
        # They are rolled back in the background, right after the transaction ends.
        deadline = time.monotonic() + 10
        while any(_active(url) for url in others) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [_active(url) for url in others] == [0, 0]


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
