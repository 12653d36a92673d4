"""Running a node: both ASGI servers, clean shutdown, identity kept across restarts."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from themis.server.launcher import NodeProcess


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_node_serves_and_stops_on_sigterm(fresh_dir: Path, server: str) -> None:
    node = NodeProcess(fresh_dir, extra_args=["--server", server]).start()
    try:
        put = httpx.put(f"{node.url}/entities/a:b", json={"blob": '{"x": 1}'})
        got = httpx.get(f"{node.url}/entities/a:b").json()
    finally:
        assert node.process is not None
        node.process.send_signal(signal.SIGTERM)
        code = node.process.wait(10)
    assert put.status_code == 201
    assert got["blob"] == '{"x": 1}'
    assert code == 0


def test_shard_id_is_kept_by_the_data_directory(fresh_dir: Path) -> None:
    with NodeProcess(fresh_dir) as first:
        original = httpx.get(f"{first.url}/health").json()["shard_id"]
    with NodeProcess(fresh_dir) as second:
        again = httpx.get(f"{second.url}/health").json()["shard_id"]
    assert again == original
