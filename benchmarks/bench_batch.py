"""Batch get/put of 10,000 keys on a local 3-shard cluster, and single-get latency.

Compares, in one run: the SDK's batch calls (one request per shard chunk, shards in
parallel) against one request per key on 4 threads (the upstream SDK's approach),
against the bare transport (pre-built bodies posted with httpx on one thread per
shard and decoded with orjson, which no client can beat), and against reading the
same keys in-process straight from LMDB, each from the shard that holds it. The
reads are measured in turns, so that a busy spell of the machine slows them alike.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks._common import best_of, percentiles, report
from themis import ThemisClient, _json, _routing
from themis._core.protocol import SHARD_HEADER, TOPOLOGY_VERSION_HEADER
from themis.server.keys import parse_key
from themis.server.launcher import LocalCluster
from themis.server.storage import Storage

KEYS = 10_000
# Each read measurement keeps its fastest of this many runs: the first few of any
# of them are slowed by cold caches, connections and threads.
RUNS = 20
TABLE = "relational.default.bench"


def main() -> None:
    """Run the benchmark and print the figures and ratios."""
    docs = {
        f"{i:06}": {"i": i, "name": f"user {i}", "tags": ["a", "b"]}
        for i in range(KEYS)
    }
    with (
        tempfile.TemporaryDirectory() as root,
        LocalCluster(Path(root), shards=3) as cluster,
        ThemisClient(endpoints=cluster.urls) as client,
    ):
        put = best_of(3, lambda: client.batch_put("relational", "bench", docs))
        _RESULTS["batch_put"] = put
        report("themis batch_put 10k keys", KEYS / put, "keys/s")
        _reads(client, cluster, list(docs))
        _per_key(client, docs)
        _single_get_latency(client, cluster.urls[0])


def _reads(client: ThemisClient, cluster: LocalCluster, uuids: list[str]) -> None:
    """Every way of reading the 10k keys, measured in turns.

    One round runs each reader once, so all of them meet the same spells of a busy
    machine; each keeps its fastest round. LMDB lets this process read the files
    the nodes serve while they run.
    """
    shards = {str(node.shard_id): node for node in cluster.nodes}
    owned = _owned(list(shards), uuids)
    stores = [
        Storage(shards[shard_id].data_dir / "lmdb", durable=False)
        for shard_id, _ in owned
    ]
    storage_keys = [
        (store, [parse_key(f"{TABLE}:{uuid}").storage() for uuid in group])
        for store, (_, group) in zip(stores, owned, strict=True)
    ]
    with httpx.Client() as http, ThreadPoolExecutor(len(owned)) as pool:
        version = str(cluster.topology()["version"])
        bare = _BareTransport(http, pool, shards, owned, version)
        readers: dict[str, Callable[[], object]] = {
            "batch_get": lambda: _checked(
                client.batch_get("relational", "bench", uuids).found
            ),
            "bare": bare.read,
            "raw": lambda: _read_all(storage_keys, decode=False),
            "decoded": lambda: _read_all(storage_keys, decode=True),
        }
        try:
            best = _rounds(readers)
        finally:
            for store in stores:
                store.close()
    _RESULTS["batch_get"] = get = best["batch_get"]
    report("themis batch_get 10k keys", KEYS / get, "keys/s")
    report("bare transport floor (httpx + orjson)", KEYS / best["bare"], "keys/s")
    report("ratio batch_get / bare transport", best["bare"] / get, "x")
    report("in-process LMDB reads of the same keys", KEYS / best["raw"], "keys/s")
    report("ratio batch_get / in-process reads", best["raw"] / get, "x", "goal >= 0.25")
    report("in-process reads + JSON decode", KEYS / best["decoded"], "keys/s")
    report("ratio batch_get / reads + decode", best["decoded"] / get, "x")


def _rounds(readers: dict[str, Callable[[], object]]) -> dict[str, float]:
    """The fastest time of each reader over :data:`RUNS` rounds, in seconds."""
    best = dict.fromkeys(readers, float("inf"))
    for _ in range(RUNS):
        for name, read in readers.items():
            best[name] = min(best[name], best_of(1, read))
    return best


def _checked(found: dict[str, object]) -> dict[str, object]:
    assert len(found) == KEYS, "batch_get lost keys"
    return found


class _BareTransport:
    """Pre-built batch bodies posted with httpx on one thread per shard.

    Decoded with orjson and nothing else: no client can read the keys faster over
    the same HTTP stack. Each request names the shard its keys were routed to and
    the topology version they were routed by, as the SDK's do, so the node does not
    route them again.
    """

    def __init__(
        self,
        http: httpx.Client,
        pool: ThreadPoolExecutor,
        shards: dict[str, Any],
        owned: list[tuple[str, list[str]]],
        version: str,
    ) -> None:
        self._http, self._pool = http, pool
        self._version = version
        self._bodies = [
            (
                shard_id,
                f"{shards[shard_id].url}/batch/get",
                orjson.dumps(
                    {
                        "table": TABLE,
                        "pks": group,
                        "documents": True,
                        "positional": True,
                    }
                ),
            )
            for shard_id, group in owned
        ]

    def read(self) -> list[list[Any]]:
        answers = list(self._pool.map(self._fetch, self._bodies))
        assert sum(map(len, answers)) == KEYS, "bare transport lost keys"
        return answers

    def _fetch(self, target: tuple[str, str, bytes]) -> list[Any]:
        shard_id, url, body = target
        headers = {SHARD_HEADER: shard_id, TOPOLOGY_VERSION_HEADER: self._version}
        answer = self._http.post(url, content=body, headers=headers)
        documents: list[Any] = orjson.loads(answer.content)["documents"]
        return documents


def _per_key(client: ThemisClient, docs: dict[str, dict[str, object]]) -> None:
    uuids = list(docs)
    with ThreadPoolExecutor(4) as pool:
        started = time.perf_counter()
        list(pool.map(lambda u: client.get("relational", "bench", u), uuids))
        get = time.perf_counter() - started
        started = time.perf_counter()
        list(pool.map(lambda u: client.put("relational", "bench", u, docs[u]), uuids))
        put = time.perf_counter() - started
    report("per-key get, 4 threads", KEYS / get, "keys/s")
    report("per-key put, 4 threads", KEYS / put, "keys/s")
    report(
        "ratio batch_get / per-key get", get / _RESULTS["batch_get"], "x", "goal >= 50"
    )
    report(
        "ratio batch_put / per-key put", put / _RESULTS["batch_put"], "x", "goal >= 50"
    )


def _single_get_latency(client: ThemisClient, url: str) -> None:
    client.put("relational", "bench", "latency", {"v": 1})
    gets, healths = [], []
    with httpx.Client() as bare:
        for _ in range(2000):
            started = time.perf_counter()
            client.get("relational", "bench", "latency")
            gets.append(time.perf_counter() - started)
            started = time.perf_counter()
            bare.get(f"{url}/health")
            healths.append(time.perf_counter() - started)
    get_p50, get_p99 = percentiles(gets)
    health_p50, health_p99 = percentiles(healths)
    report("single get p50 / p99", get_p50, "ms", f"p99 {get_p99:.2f} ms")
    report("bare GET /health p50 / p99", health_p50, "ms", f"p99 {health_p99:.2f} ms")
    report("ratio get p50 / health p50", get_p50 / health_p50, "x")


def _owned(shard_ids: list[str], uuids: list[str]) -> list[tuple[str, list[str]]]:
    """Each shard id with the uuids it owns, routed as the SDK routes them."""
    router = _routing.Router(shard_ids)
    groups = router.group(uuids, f"urn:themis:{TABLE.replace('.', ':')}:")
    return list(zip(router.shard_ids, groups, strict=True))


def _read_all(owned: list[tuple[Storage, list[bytes]]], *, decode: bool) -> list[Any]:
    """Every value read, decoded into documents if asked; the caller keeps them."""
    values: list[Any] = []
    for store, keys in owned:
        with store.snapshot() as view:
            blobs = view.get_many("docs", keys)
        if decode:
            values.extend([_json.loads(blob) for blob in blobs if blob is not None])
        else:
            values.extend(blob for blob in blobs if blob is not None)
    assert len(values) == KEYS, "in-process reads lost keys"
    return values


_RESULTS: dict[str, float] = {}

if __name__ == "__main__":
    main()
