"""A rebalance of a cluster whose topology lives in etcd."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from typer.testing import CliRunner

from themis import ThemisClient, _json
from themis.cli import app
from themis.server.launcher import LocalCluster, NodeProcess

from .conftest import Etcd

runner = CliRunner()


def test_the_target_is_published_to_etcd_and_every_node_follows(
    etcd: Etcd, tmp_path: Path
) -> None:
    key = f"/rebalance-{uuid.uuid4().hex}/topology"
    source = etcd.etcd_url(key)
    docs = {f"d{i}": {"i": i} for i in range(300)}
    with LocalCluster(tmp_path, shards=2, etcd_url=source) as cluster:
        extra = NodeProcess(tmp_path / "shard-3", shard_id="shard-3", topology=source)
        with extra, ThemisClient(cluster.urls, metadata_endpoint=source) as client:
            assert not client.batch_put("relational", "docs", docs).failed
            first = client.topology().version

            done = runner.invoke(
                app,
                [
                    "cluster",
                    "rebalance",
                    "--topology",
                    source,
                    "--add",
                    f"shard-3={extra.url}",
                ],
            )
            assert done.exit_code == 0, done.output

            reader = etcd.client()
            try:
                raw = reader.get(key)
            finally:
                reader.close()
            assert raw is not None
            published = _json.loads(raw)
            assert published["version"] == first + 1
            assert [s["id"] for s in published["shards"]] == [
                "shard-1",
                "shard-2",
                "shard-3",
            ]
            for node in [*cluster.nodes, extra]:
                served = httpx.get(f"{node.url}/_admin/cluster/topology").json()
                assert served == published
            assert client.batch_get("relational", "docs", list(docs)).found == docs
            client.get("relational", "docs", "d1")
            assert client.topology().version == first + 1
            counted = httpx.post(
                f"{extra.url}/query/aql",
                json={"query": "FOR d IN docs COLLECT WITH COUNT INTO n RETURN n"},
            )
            assert counted.json()["entities"] == [len(docs)]
