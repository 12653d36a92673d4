"""COLLECT pushdown on an in-process source split into shards: same results."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.aql.pushdown_cases import DOCS, QUERIES
from themis.aql import compile_query
from themis.aql._pushdown import PartialQuery
from themis.aql.memory import MemorySource


class ShardedSource(MemorySource):
    """A memory source that also answers pushed-down aggregates shard by shard."""

    def __init__(self, collections: dict[str, list[dict[str, Any]]], shards: int):
        super().__init__(collections)
        self.shards = [
            MemorySource({n: docs[i::shards] for n, docs in collections.items()})
            for i in range(shards)
        ]
        self.queries: list[str] = []

    def aggregate(self, name: str, query: PartialQuery) -> Iterator[list[Any]]:
        self.queries.append(query.text)
        for shard in self.shards:
            rows = compile_query(query.text).execute(shard, dict(query.binds))
            # Partials cross the network as JSON.
            yield from orjson.loads(orjson.dumps(list(rows)))


def _collections() -> dict[str, list[dict[str, Any]]]:
    return {"t": DOCS, "empty": []}


@pytest.mark.parametrize(("text", "binds"), QUERIES, ids=[q[:50] for q, _ in QUERIES])
def test_pushdown_same_result(text: str, binds: dict[str, Any]) -> None:
    query = compile_query(text)
    expected = list(query.execute(MemorySource(_collections()), binds))
    sharded = ShardedSource(_collections(), 3)

    result = list(query.execute(sharded, binds))

    assert orjson.dumps(result) == orjson.dumps(expected)
    # INTO and a subquery reading its outer loop variable keep the ordinary plan.
    pushed = "INTO rows" not in text and "== x" not in text
    assert bool(sharded.queries) == pushed


def test_pushdown_named_in_explain() -> None:
    text = "FOR d IN t FILTER d.h > 1 COLLECT g = d.g AGGREGATE n = COUNT() RETURN n"
    query = compile_query(text)

    plain = query.explain(MemorySource(_collections()))
    pushed = query.explain(ShardedSource(_collections(), 2))

    assert [n["type"] for n in plain["nodes"]] == [
        "EnumerateCollection",
        "Filter",
        "Collect",
        "Return",
    ]
    assert [n["type"] for n in pushed["nodes"]] == ["PartialAggregate", "Return"]
    assert pushed["nodes"][0]["shardQuery"] == (
        "FOR `d` IN @@c FILTER (`d`.`h` > 1) COLLECT _pg0 = `d`.`g` AGGREGATE "
        "_pn = COUNT(), _pfirst = _FIRST_PARTIAL([`d`._key, [`d`.`g`]]) "
        "RETURN [_pfirst, _pn, [null]]"
    )


def test_lets_before_the_collect_go_to_the_shards() -> None:
    text = (
        "FOR d IN t LET x = d.h * 2 FILTER x > 2 "
        "COLLECT g = x AGGREGATE s = SUM(d.n) RETURN [g, s]"
    )
    pushed = compile_query(text).explain(ShardedSource(_collections(), 2))

    assert [n["type"] for n in pushed["nodes"]] == ["PartialAggregate", "Return"]
    assert pushed["nodes"][0]["shardQuery"].startswith(
        "FOR `d` IN @@c LET `x` = (`d`.`h` * 2) FILTER (`x` > 2) COLLECT _pg0 = `x` "
    )
