"""Shard streams of one query step: first pages at once, then read ahead together."""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from themis.server.shard_streams import StreamGroup

ROWS = {"a": list(range(0, 300, 3)), "b": list(range(1, 300, 3)), "c": [2, 5, 8]}
MERGED = sorted(itertools.chain.from_iterable(ROWS.values()))


class Shards:
    """Serves each target's rows as cursor pages and records every request."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def fetch(self, target: str, body: dict[str, Any]) -> dict[str, Any] | None:
        offset = int(body.get("cursor") or 0)
        size = body["batch_size"]
        with self._lock:
            self.asked.append((target, offset))
        rows = ROWS[target]
        end = offset + size
        more = end < len(rows)
        return {"items": rows[offset:end], "has_more": more, "next_cursor": str(end)}

    def pages(self, target: str) -> int:
        return sum(1 for asked, _ in self.asked if asked == target)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(8) as executor:
        yield executor


def _group(pool: ThreadPoolExecutor, shards: Shards) -> list[Iterator[Any]]:
    group = StreamGroup(pool, shards.fetch)
    return [group.open(target, {"query": "q"}) for target in ROWS]


def test_a_small_limit_costs_one_page_per_shard(pool: ThreadPoolExecutor) -> None:
    shards = Shards()
    merged = heapq.merge(*_group(pool, shards))

    assert list(itertools.islice(merged, 10)) == MERGED[:10]
    assert sorted(shards.asked) == [("a", 0), ("b", 0), ("c", 0)]


def test_reading_past_a_first_page_asks_every_shard_for_more(
    pool: ThreadPoolExecutor,
) -> None:
    shards = Shards()
    merged = heapq.merge(*_group(pool, shards))

    # Through 46: the first pages of "a" (0..45) and "b" (1..46) are read, and "a"
    # had to ask for more; "b" was asked for its second page at the same moment,
    # before the merge needed it.
    head = list(itertools.islice(merged, MERGED.index(46) + 1))

    assert head == MERGED[: len(head)]
    assert (shards.pages("a"), shards.pages("b"), shards.pages("c")) == (2, 2, 1)
    assert list(merged) == MERGED[len(head) :]


def test_every_row_arrives_once_in_a_chain(pool: ThreadPoolExecutor) -> None:
    shards = Shards()
    rows = list(itertools.chain.from_iterable(_group(pool, shards)))
    assert rows == ROWS["a"] + ROWS["b"] + ROWS["c"]
    assert shards.pages("a") == 3 and shards.pages("c") == 1


def test_a_missing_shard_ends_its_stream(pool: ThreadPoolExecutor) -> None:
    group: StreamGroup[str] = StreamGroup(pool, lambda target, body: None)
    assert list(group.open("gone", {"query": "q"})) == []
