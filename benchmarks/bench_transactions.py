"""What a commit over several shards costs against one on a single shard.

On a local 3-shard cluster, each transaction writes three small documents and
commits. In the first series all three keys belong to the coordinating shard, so the
commit is one write on one node; in the second they lie on three shards, so the
commit is a two-phase commit over three nodes (two parts prepared and committed over
HTTP). Both series run in turns, in the same run, and report p50/p99 latency per
transaction (begin, three puts, commit) and the ratio of the medians.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._common import percentiles, report
from themis import ThemisClient, _routing
from themis.server.launcher import LocalCluster

ROUNDS = 200
COLLECTION = "bench_txn"


def main() -> None:
    """Run the benchmark and print the figures and the ratio."""
    with (
        tempfile.TemporaryDirectory() as root,
        LocalCluster(Path(root), shards=3) as cluster,
        ThemisClient(endpoints=cluster.urls) as client,
    ):
        shard_ids = sorted(str(node.shard_id) for node in cluster.nodes)
        local = _keys(shard_ids, lambda owners: set(owners) == {shard_ids[0]})
        spread = _keys(shard_ids, lambda owners: set(owners) == set(shard_ids))
        timings: dict[str, list[float]] = {"one shard": [], "three shards": []}
        for number in range(ROUNDS):
            for name, keys in (("one shard", local), ("three shards", spread)):
                started = time.perf_counter()
                with client.begin_transaction() as txn:
                    for key in keys:
                        txn.put("relational", COLLECTION, key, {"n": number})
                timings[name].append(time.perf_counter() - started)
    medians = {}
    for name, samples in timings.items():
        p50, p99 = percentiles(samples[10:])  # the first few warm connections up
        medians[name] = p50
        report(f"transaction of 3 writes on {name} p50", p50, "ms", f"p99 {p99:.2f}")
    ratio = medians["three shards"] / medians["one shard"]
    report("ratio three shards / one shard", ratio, "x")


def _keys(shard_ids: list[str], wanted: Callable[[list[str]], bool]) -> list[str]:
    """Three uuids whose owners pass ``wanted``."""
    candidate = 0
    while True:
        keys = [f"k{candidate}-{i}" for i in range(3)]
        owners = [
            _routing.owner(
                shard_ids, f"urn:themis:relational:default:{COLLECTION}:{key}"
            )
            for key in keys
        ]
        if wanted(owners):
            return keys
        candidate += 1


if __name__ == "__main__":
    main()
