"""Acknowledged writes survive kill -9 of the node process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from themis.server.launcher import NodeProcess

WRITES = 400


def _write(url: str, index: int) -> int:
    body = {"blob": f'{{"i": {index}}}'}
    with httpx.Client(base_url=url, timeout=10.0) as client:
        return client.put(f"/entities/durable:{index}", json=body).status_code


def test_acknowledged_writes_survive_kill_9(fresh_dir: Path) -> None:
    node = NodeProcess(fresh_dir).start()
    try:
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda i: _write(node.url, i), range(WRITES)))
        batch = [{"key": f"durable:b{i}", "blob": "{}"} for i in range(200)]
        httpx.post(f"{node.url}/batch/put", json={"items": batch}, timeout=10.0)
    finally:
        node.kill()
    assert statuses == [201] * WRITES

    restarted = NodeProcess(fresh_dir, port=node.port).start()
    try:
        keys = [f"durable:{i}" for i in range(WRITES)]
        keys += [f"durable:b{i}" for i in range(200)]
        result = httpx.post(
            f"{restarted.url}/batch/get", json={"keys": keys}, timeout=10.0
        ).json()
    finally:
        restarted.stop()
    assert result["missing"] == []
    assert len(result["found"]) == WRITES + 200
    assert result["found"]["durable:7"] == '{"i": 7}'
