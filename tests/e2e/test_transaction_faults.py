"""Cross-shard commits while the coordinating node is killed: all or nothing."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx

from themis import ThemisClient, _routing
from themis.errors import ThemisError
from themis.server.launcher import LocalCluster

COLLECTION = "faults"
ROUNDS = 3


def _keys_on_every_shard(shard_ids: list[str], number: int) -> list[str]:
    """Three uuids for transaction ``number``, one on each shard."""
    found: dict[str, str] = {}
    attempt = 0
    while len(found) < len(shard_ids):
        uuid = f"t{number}-{attempt}"
        urn = f"urn:themis:relational:default:{COLLECTION}:{uuid}"
        found.setdefault(_routing.owner(shard_ids, urn), uuid)
        attempt += 1
    return [found[shard_id] for shard_id in sorted(found)]


def test_commits_stay_atomic_when_the_coordinator_is_killed(tmp_path: Path) -> None:
    randomness = random.Random(7)
    with LocalCluster(tmp_path, shards=3) as cluster:
        shard_ids = sorted(str(node.shard_id) for node in cluster.nodes)
        coordinator = next(n for n in cluster.nodes if n.shard_id == shard_ids[0])
        planned: dict[int, list[str]] = {}
        acknowledged: set[int] = set()
        stop = threading.Event()

        def write() -> None:
            number = 0
            with ThemisClient(endpoints=cluster.urls, max_retries=0) as client:
                while not stop.is_set():
                    number += 1
                    uuids = planned[number] = _keys_on_every_shard(shard_ids, number)
                    try:
                        with client.begin_transaction() as txn:
                            for uuid in uuids:
                                txn.put("relational", COLLECTION, uuid, {"n": number})
                    except (ThemisError, httpx.HTTPError):
                        time.sleep(0.05)  # the node is down or just back
                        continue
                    acknowledged.add(number)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            for _ in range(ROUNDS):
                time.sleep(randomness.uniform(0.3, 0.8))
                coordinator.kill()
                coordinator.start()
            time.sleep(0.5)
        finally:
            stop.set()
            writer.join()

        def settled() -> bool:
            # No part waits for its outcome, and no coordinator still has one to
            # deliver.
            stats = [
                httpx.get(f"{node.url}/transaction/stats").json()
                for node in cluster.nodes
            ]
            return all(
                s["prepared_count"] == 0 and s["undelivered_decisions"] == 0
                for s in stats
            )

        deadline = time.monotonic() + 30
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert settled()

        with ThemisClient(endpoints=cluster.urls) as client:
            every = [uuid for uuids in planned.values() for uuid in uuids]
            stored = client.batch_get("relational", COLLECTION, every).found
        assert acknowledged, "no transaction committed between the kills"
        for number, uuids in planned.items():
            present = [uuid in stored for uuid in uuids]
            assert all(present) or not any(present), (number, present)
            if number in acknowledged:
                assert all(present), number
                assert all(stored[uuid] == {"n": number} for uuid in uuids)
