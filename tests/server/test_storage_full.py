"""A node whose store is full: 507 for writes, every stored document intact."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from themis import ThemisClient, ThemisHTTPError
from themis.server.launcher import NodeProcess

DOC = '{"text": "' + "x" * 4000 + '"}'


def _fill(http: httpx.Client) -> list[str]:
    """PUTs 4 KB documents until the node answers 507; returns the stored keys."""
    stored: list[str] = []
    for number in range(2000):
        key = f"full:{number:04}"
        response = http.put(f"/entities/{key}", json={"blob": DOC})
        if response.status_code == 507:
            error = response.json()
            assert error["error"] is True and error["status_code"] == 507
            assert "--map-size" in error["message"]
            return stored
        assert response.status_code == 201, response.text
        stored.append(key)
    raise AssertionError("a 2 MiB store took 8 MB of documents")


def test_a_full_node_refuses_writes_and_serves_what_it_holds(fresh_dir: Path) -> None:
    with (
        NodeProcess(fresh_dir, extra_args=["--map-size", "2MiB"]) as node,
        httpx.Client(base_url=node.url, timeout=10.0) as http,
    ):
        stored = _fill(http)
        assert len(stored) > 50
        assert http.get("/health").json()["status"] == "healthy"
        stats = http.get("/stats").json()
        assert stats["storage"]["map_size_bytes"] == 2 << 20
        assert 0 < stats["storage"]["used_bytes"] <= 2 << 20
        # Through the SDK: refused at once (no retries), and per key in a batch.
        with ThemisClient(endpoints=[node.url]) as client:
            with pytest.raises(ThemisHTTPError) as info:
                client.put("relational", "more", "1", {"text": "y" * 4000})
            assert info.value.status_code == 507
            docs = {str(n): {"text": "y" * 4000} for n in range(50)}
            result = client.batch_put("relational", "more", docs)
            assert result.succeeded == []
            assert set(result.failed) == set(docs)
            assert all("room" in reason for reason in result.failed.values())
        for key in stored:
            assert http.get(f"/entities/{key}").json()["blob"] == DOC
        # Deleting makes room for new writes.
        for key in stored[:20]:
            assert http.delete(f"/entities/{key}").status_code == 200
        assert http.put("/entities/full:after", json={"blob": DOC}).status_code == 201
    # A larger map on restart takes what the full one refused.
    with (
        NodeProcess(fresh_dir, extra_args=["--map-size", "64MiB"]) as node,
        httpx.Client(base_url=node.url, timeout=10.0) as http,
    ):
        for number in range(200):
            key = f"full:more{number}"
            assert http.put(f"/entities/{key}", json={"blob": DOC}).status_code == 201
        assert http.get(f"/entities/{stored[-1]}").json()["blob"] == DOC
        assert http.get("/entities/full:after").json()["blob"] == DOC
