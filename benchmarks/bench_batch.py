"""Batch get/put of 10,000 keys on a local 3-shard cluster, and single-get latency.

Compares, in one run: the SDK's batch calls (one request per shard chunk, shards in
parallel) against one request per key on 4 threads (the upstream SDK's approach),
against the bare transport (pre-built bodies posted with httpx on one thread per
shard and decoded with orjson, which no client can beat), and against reading the
same keys in-process straight from LMDB, each from the shard that holds it.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks._common import best_of, percentiles, report
from themis import ThemisClient, _json, _routing
from themis.server.keys import parse_key
from themis.server.launcher import LocalCluster
from themis.server.storage import Storage

KEYS = 10_000
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
    ):
        with ThemisClient(endpoints=cluster.urls) as client:
            _batches(client, docs)
            _bare_transport(cluster, list(docs))
            _per_key(client, docs)
            _single_get_latency(client, cluster.urls[0])
        cluster.stop()
        _in_process(cluster, docs)


def _batches(client: ThemisClient, docs: dict[str, dict[str, object]]) -> None:
    put = best_of(3, lambda: client.batch_put("relational", "bench", docs))
    get = best_of(5, lambda: client.batch_get("relational", "bench", list(docs)))
    result = client.batch_get("relational", "bench", list(docs))
    assert len(result.found) == KEYS, "batch_get lost keys"
    _RESULTS["batch_put"] = put
    _RESULTS["batch_get"] = get
    report("themis batch_put 10k keys", KEYS / put, "keys/s")
    report("themis batch_get 10k keys", KEYS / get, "keys/s")


def _bare_transport(cluster: LocalCluster, uuids: list[str]) -> None:
    shards = {str(node.shard_id): node.url for node in cluster.nodes}
    bodies = [
        (
            shards[shard_id],
            orjson.dumps(
                {
                    "table": TABLE,
                    "pks": group,
                    "documents": True,
                    "positional": True,
                }
            ),
        )
        for shard_id, group in _owned(list(shards), uuids)
    ]
    with httpx.Client() as http, ThreadPoolExecutor(len(bodies)) as pool:

        def fetch(target: tuple[str, bytes]) -> list[Any]:
            url, body = target
            answer = http.post(f"{url}/batch/get", content=body)
            documents: list[Any] = orjson.loads(answer.content)["documents"]
            return documents

        def run() -> list[list[Any]]:
            answers = list(pool.map(fetch, bodies))
            assert sum(map(len, answers)) == KEYS, "bare transport lost keys"
            return answers

        bare = best_of(5, run)
    report("bare transport floor (httpx + orjson)", KEYS / bare, "keys/s")
    report("ratio batch_get / bare transport", bare / _RESULTS["batch_get"], "x")


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


def _in_process(cluster: LocalCluster, docs: dict[str, dict[str, object]]) -> None:
    stores = {
        str(node.shard_id): Storage(node.data_dir / "lmdb", durable=False)
        for node in cluster.nodes
    }
    # Each key is read once, from the shard that holds it, in one read transaction
    # per shard: the least work any in-process reader could do.
    owned = [
        (stores[shard_id], [parse_key(f"{TABLE}:{uuid}").storage() for uuid in group])
        for shard_id, group in _owned(list(stores), list(docs))
    ]
    try:
        raw = best_of(5, lambda: _read_all(owned, decode=False))
        decoded = best_of(5, lambda: _read_all(owned, decode=True))
    finally:
        for store in stores.values():
            store.close()
    batch_get = _RESULTS["batch_get"]
    report("in-process LMDB reads of the same keys", KEYS / raw, "keys/s")
    report("ratio batch_get / in-process reads", raw / batch_get, "x", "goal >= 0.25")
    report("in-process reads + JSON decode", KEYS / decoded, "keys/s")
    report("ratio batch_get / reads + decode", decoded / batch_get, "x")


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
