"""Adding a fourth shard to a loaded 3-shard cluster: how fast documents move.

Loads documents with two range indexes into a 3-shard cluster through the SDK's
``batch_put``, starts a fourth node, and runs the rebalance that adds it. Reports the
documents moved, how long writes and queries waited, and the moving rate against the
loading rate measured in the same run (a moved document is read, sent, stored with
its index entries on its new shard and deleted from its old one).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks._common import report
from themis import ThemisClient
from themis.server import rebalance_driver as driver
from themis.server.launcher import LocalCluster, NodeProcess

DOCS = int(os.environ.get("THEMIS_BENCH_REBALANCE_DOCS", "100000"))
CHUNK = 20_000


def main() -> None:
    """Load, add a shard, and print the figures."""
    with tempfile.TemporaryDirectory() as root, LocalCluster(Path(root), 3) as cluster:
        source = str(cluster.topology_path)
        for column in ("tag", "score"):
            body = {"table": "items", "column": column, "type": "range"}
            httpx.post(f"{cluster.urls[0]}/index/create", json=body).raise_for_status()
        with ThemisClient(cluster.urls) as client:
            started = time.perf_counter()
            for start in range(0, DOCS, CHUNK):
                docs = {
                    f"{i:07}": {"tag": f"t{i % 97}", "score": i * 7919 % 1_000_003}
                    for i in range(start, min(DOCS, start + CHUNK))
                }
                assert not client.batch_put("relational", "items", docs).failed
            load = time.perf_counter() - started
        extra = NodeProcess(Path(root) / "shard-4", shard_id="shard-4", topology=source)
        with extra, httpx.Client(timeout=driver.timeout()) as http:
            current = driver.read_topology(source)
            plan = driver.plan(
                current, [("shard-4", extra.url)], [], abort=False, http=http
            )
            started = time.perf_counter()
            driver.execute(plan, source, http, lambda _: None)
            moved_seconds = time.perf_counter() - started
        moved = sum(plan.moved.values())
        report("documents loaded (3 shards, 2 range indexes)", DOCS, "docs")
        report("load through batch_put", DOCS / load, "docs/s")
        report("documents moved to the 4th shard", moved, "docs", f"{moved / DOCS:.0%}")
        report("rebalance, writes and queries held", moved_seconds, "s")
        report("moving rate", moved / moved_seconds, "docs/s")
        report(
            "ratio moving rate / load rate",
            (moved / moved_seconds) / (DOCS / load),
            "x",
        )


if __name__ == "__main__":
    main()
