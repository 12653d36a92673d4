"""A 3-shard cluster against one node: selective FILTERs and SORT ... LIMIT 10.

Loads the same small documents through the SDK's ``batch_put`` into a 3-shard cluster
and into a single node, then times each query on both (best of 3) and reports the
bytes that moved between the nodes of the cluster (from the shards' ``/stats``
counters of requests sent by a coordinator) against the size of the result. The
pushdown keeps that ratio small and independent of the collection size.
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks._common import best_of, report
from themis import ThemisClient
from themis.server.launcher import LocalCluster, NodeProcess

DOCS = int(os.environ.get("THEMIS_BENCH_CLUSTER_DOCS", "300000"))
CHUNK = 20_000
QUERIES = {
    "FILTER indexed field (0.1%)": "FOR d IN items FILTER d.tag == 'rare' RETURN d",
    "FILTER unindexed field (0.1%)": "FOR d IN items FILTER d.mark == 7 RETURN d",
    "SORT indexed field LIMIT 10": "FOR d IN items SORT d.score DESC LIMIT 10 RETURN d",
    "COLLECT into 40 groups": (
        "FOR d IN items COLLECT g = d.mark % 40 AGGREGATE n = COUNT(), "
        "s = SUM(d.score), a = AVG(d.score) RETURN [g, n, s, a]"
    ),
}


def _documents(start: int, stop: int) -> dict[str, dict[str, Any]]:
    return {
        f"{i:07}": {
            "tag": "rare" if i % 1000 == 0 else f"t{i % 97}",
            "mark": 7 if i % 1000 == 1 else i % 500 + 8,
            "score": (i * 7919) % 1_000_003,
        }
        for i in range(start, stop)
    }


def _load(client: ThemisClient, urls: list[str]) -> float:
    # One node of a cluster defines an index on every shard.
    for column in ("tag", "score"):
        body = {"table": "items", "column": column, "type": "range"}
        httpx.post(f"{urls[0]}/index/create", json=body).raise_for_status()
    started = time.perf_counter()
    for start in range(0, DOCS, CHUNK):
        docs = _documents(start, min(DOCS, start + CHUNK))
        result = client.batch_put("relational", "items", docs)
        assert not result.failed, f"load failed: {list(result.failed.items())[:3]}"
    return time.perf_counter() - started


def _peer_bytes(urls: list[str]) -> int:
    total = 0
    for url in urls:
        peers = httpx.get(f"{url}/stats").json()["network"]["from_peers"]
        total += peers["bytes_received"] + peers["bytes_sent"]
    return total


def _measure(
    client: ThemisClient, urls: list[str]
) -> dict[str, tuple[float, int, int]]:
    found: dict[str, tuple[float, int, int]] = {}
    for name, text in QUERIES.items():
        before = _peer_bytes(urls)
        result = client.query(text)
        moved = _peer_bytes(urls) - before
        size = len(orjson.dumps(result.items))
        seconds = best_of(3, functools.partial(client.query, text))
        found[name] = (seconds, moved, size)
    return found


def _run(root: Path, shards: int) -> tuple[float, dict[str, tuple[float, int, int]]]:
    if shards == 1:
        with NodeProcess(root / "single") as node, ThemisClient([node.url]) as client:
            load = _load(client, [node.url])
            return load, _measure(client, [node.url])
    with (
        LocalCluster(root / "cluster", shards=shards) as cluster,
        ThemisClient(cluster.urls) as client,
    ):
        load = _load(client, cluster.urls)
        return load, _measure(client, cluster.urls)


def main() -> None:
    """Run the benchmark and print times, ratios and bytes moved."""
    if DOCS < 300_000:
        print(f"note: {DOCS:,} documents (THEMIS_BENCH_CLUSTER_DOCS)", flush=True)
    with tempfile.TemporaryDirectory() as root:
        single_load, single = _run(Path(root), 1)
        report("load 1 node (batch_put)", DOCS / single_load, "docs/s")
        cluster_load, sharded = _run(Path(root), 3)
        report("load 3 shards (batch_put)", DOCS / cluster_load, "docs/s")
    for name, (seconds, _, size) in single.items():
        cluster_seconds, moved, cluster_size = sharded[name]
        assert size == cluster_size, f"{name}: results differ between 1 and 3 shards"
        report(f"{name}: 1 node", seconds * 1000, "ms")
        report(f"{name}: 3 shards", cluster_seconds * 1000, "ms")
        report(f"{name}: 3 shards / 1 node", cluster_seconds / seconds, "x")
        report(f"{name}: result", size, "bytes")
        report(f"{name}: moved between nodes", moved, "bytes")
        report(f"{name}: moved / result", moved / max(size, 1), "x")


if __name__ == "__main__":
    main()
