"""``themis cluster up`` as a user runs it: start, publish, serve, stop on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.cluster.conftest import Etcd
from themis.server.etcd import live_nodes
from themis.server.launcher import LocalCluster

KEY = "/themis-cli-test/topology"


def _published(etcd: Etcd) -> dict[str, object] | None:
    client = etcd.client()
    try:
        raw = client.get(KEY)
        live = live_nodes(client, "/themis-cli-test/nodes/")
    finally:
        client.close()
    if raw is None or len(live) < 3:
        return None
    document: dict[str, object] = json.loads(raw)
    return document


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def test_cluster_up_serves_publishes_and_stops(etcd: Etcd, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "themis", "cluster", "up", "--shards", "3"]
    command += ["--base-port", "0", "--data", str(tmp_path / "cluster")]
    command += ["--etcd", etcd.etcd_url(KEY), "--map-size", "64MiB"]
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        deadline = time.monotonic() + 30
        document = _published(etcd)
        while document is None and time.monotonic() < deadline:
            assert process.poll() is None, process.stderr and process.stderr.read()
            time.sleep(0.1)
            document = _published(etcd)
        assert document is not None, "cluster up published no topology within 30 s"
        shards = document["shards"]
        assert isinstance(shards, list)
        urls = [shard["http_endpoint"] for shard in shards]
        assert [shard["id"] for shard in shards] == ["shard-1", "shard-2", "shard-3"]
        assert all(_answers(url) for url in urls)
        assert httpx.get(f"{urls[1]}/_admin/cluster/topology").json() == document
        for url in urls:
            storage = httpx.get(f"{url}/stats").json()["storage"]
            assert storage["map_size_bytes"] == 64 << 20
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)

    assert process.returncode == 0, stderr.decode()
    output = stdout.decode()
    assert json.loads(output[output.index("\n{") :]) == document
    for url in urls:
        assert url in output
        assert not _answers(url)
    assert "cluster stopped" in stderr.decode()
    assert f"topology published to {etcd.etcd_url(KEY)}" in stderr.decode()
    assert _published(etcd) is None, "liveness records outlived the cluster"
    assert json.loads((tmp_path / "cluster" / "topology.json").read_text()) == document


def test_cluster_up_again_publishes_a_higher_version(
    etcd: Etcd, tmp_path: Path
) -> None:
    """Clients ignore older versions, so a restarted cluster must not go back to 1."""
    url = etcd.etcd_url("/themis-cli-again/topology")
    with LocalCluster(tmp_path / "a", shards=1, etcd_url=url) as first:
        version = first.version
    with LocalCluster(tmp_path / "b", shards=1, etcd_url=url) as second:
        assert second.version == version + 1
        topology = httpx.get(f"{second.urls[0]}/_admin/cluster/topology").json()
        assert topology["version"] == version + 1
