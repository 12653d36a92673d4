"""AQL over 100,000 documents: FILTER + SORT + LIMIT against sqlite, and cursor paging.

The baseline is sqlite3 with ``json_extract`` over the same documents stored as JSON
text, measured in the same run, without and with an index on the filtered and sorted
fields. themis is measured over HTTP against a local node, as users run it.
"""

from __future__ import annotations

import json
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks._common import best_of, report
from themis import ThemisClient
from themis.server.launcher import NodeProcess

DOCS = 100_000
QUERY = (
    "FOR d IN items FILTER d.category == @category AND d.price >= @low "
    "SORT d.score DESC LIMIT 10 RETURN {id: d._key, score: d.score}"
)
SQL = (
    "SELECT key, json_extract(body, '$.score') AS score FROM items "
    "WHERE json_extract(body, '$.category') = ? AND json_extract(body, '$.price') >= ? "
    "ORDER BY score DESC LIMIT 10"
)
BINDS = {"category": "c7", "low": 50}


def _documents() -> dict[str, dict[str, Any]]:
    rng = random.Random(7)
    return {
        f"{i:07}": {
            "category": f"c{rng.randrange(40)}",
            "price": rng.randrange(100),
            "score": rng.random(),
            "name": f"item {i}",
        }
        for i in range(DOCS)
    }


def main() -> None:
    """Run both measurements and print times and ratios."""
    docs = _documents()
    sqlite_plain, sqlite_indexed, expected = _sqlite(docs)
    with (
        tempfile.TemporaryDirectory() as root,
        NodeProcess(Path(root)) as node,
        ThemisClient(endpoints=[node.url]) as client,
    ):
        client.batch_put("relational", "items", docs)
        _compare(client, node.url, expected, sqlite_plain, sqlite_indexed)
        _paging(client)


def _sqlite(docs: dict[str, dict[str, Any]]) -> tuple[float, float, list[str]]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE items (key TEXT PRIMARY KEY, body TEXT)")
    db.executemany(
        "INSERT INTO items VALUES (?, ?)", [(k, json.dumps(v)) for k, v in docs.items()]
    )
    params = (BINDS["category"], BINDS["low"])
    plain = best_of(5, lambda: db.execute(SQL, params).fetchall())
    db.execute("CREATE INDEX by_cat ON items (json_extract(body, '$.category'))")
    db.execute("CREATE INDEX by_score ON items (json_extract(body, '$.score'))")
    indexed = best_of(5, lambda: db.execute(SQL, params).fetchall())
    expected = [row[0] for row in db.execute(SQL, params).fetchall()]
    report("sqlite json_extract, no index", plain * 1000, "ms")
    report("sqlite json_extract, indexed", indexed * 1000, "ms")
    return plain, indexed, expected


def _compare(
    client: ThemisClient,
    url: str,
    expected: list[str],
    sqlite_plain: float,
    sqlite_indexed: float,
) -> None:
    def run() -> list[Any]:
        return client.query(QUERY, params=BINDS).items

    assert [row["id"] for row in run()] == expected, "themis and sqlite disagree"
    plain = best_of(5, run)
    for column, kind in (("category", "equality"), ("score", "range")):
        body = {"table": "items", "column": column, "type": kind}
        httpx.post(f"{url}/index/create", json=body, timeout=120).raise_for_status()
    assert [row["id"] for row in run()] == expected, "index changed the result"
    indexed = best_of(5, run)
    report("themis over HTTP, no index", plain * 1000, "ms")
    report("themis over HTTP, indexed", indexed * 1000, "ms")
    report("ratio themis / sqlite, no index", plain / sqlite_plain, "x", "goal <= 3")
    report("ratio themis / sqlite, indexed", indexed / sqlite_indexed, "x", "goal <= 3")


def _paging(client: ThemisClient) -> None:
    text = "FOR d IN items RETURN d"
    started = time.perf_counter()
    page = client.query(text, use_cursor=True, batch_size=1000)
    latencies = [time.perf_counter() - started]
    rows = len(page.items)
    while page.has_more:
        started = time.perf_counter()
        page = client.query(text, use_cursor=True, cursor=page.next_cursor)
        latencies.append(time.perf_counter() - started)
        rows += len(page.items)
    assert rows == DOCS, f"paging returned {rows} rows, expected {DOCS}"
    first = latencies[0]
    last = sum(latencies[-5:]) / 5
    report("cursor page 1 of 100 (1000 rows)", first * 1000, "ms")
    report("cursor pages 96-100, mean", last * 1000, "ms")
    report("ratio last page / first page", last / first, "x", "goal <= 2")


if __name__ == "__main__":
    main()
