"""The query time budget of a node, on whole results and on every cursor page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from themis.server.launcher import NodeProcess

ENDLESS = "FOR i IN 1..100000 FOR j IN 1..100000 FILTER j < 0 RETURN j"


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    root: Path = tmp_path_factory.mktemp("budget")
    with (
        NodeProcess(root, extra_args=["--query-timeout", "0.3"]) as node,
        httpx.Client(base_url=node.url, timeout=30.0) as client,
    ):
        yield client


@pytest.mark.parametrize("use_cursor", [False, True])
def test_a_query_past_its_budget_is_stopped(
    http: httpx.Client, use_cursor: bool
) -> None:
    answer = http.post("/query/aql", json={"query": ENDLESS, "use_cursor": use_cursor})
    assert answer.status_code == 400
    assert answer.json()["message"] == "query exceeded the time budget of 0.3 s"


def test_a_cursor_may_pause_longer_than_the_budget_between_pages(
    http: httpx.Client,
) -> None:
    body = {
        "query": "FOR i IN 1..3000 RETURN i",
        "use_cursor": True,
        "batch_size": 1000,
    }
    page = http.post("/query/aql", json=body).json()
    rows = page["items"]
    while page["has_more"]:
        time.sleep(0.5)
        page = http.post("/query/aql", json={**body, "cursor": page["next_cursor"]})
        assert page.status_code == 200, page.text
        page = page.json()
        rows += page["items"]
    assert rows == list(range(1, 3001))
