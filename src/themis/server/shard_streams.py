"""Paged row streams from the shards of one query, read ahead together.

A coordinator reads each shard's part of a query as a cursor, page by page (16 rows
first, four times more per page after). The streams of one step (a merge, or a chain
of partial aggregates) form a :class:`StreamGroup`:

- every stream asks for its first page at once, so a step waits for the slowest shard
  instead of the sum of all of them;
- a reader that needs more than a first page holds (no small LIMIT) makes every stream
  of the group ask for its next page at once, so the shards scan side by side instead
  of one after the other;
- from then on each stream asks for its next page as soon as it has the current one.

A LIMIT the first pages satisfy therefore costs one page per shard and nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from typing import Any, Generic, TypeVar

__all__ = ["FIRST_PAGE", "LARGEST_PAGE", "StreamGroup"]

FIRST_PAGE = 16
LARGEST_PAGE = 8192

Target = TypeVar("Target")
Page = dict[str, Any]
FetchPage = Callable[[Target, dict[str, Any]], Page | None]
"""Posts one cursor request to a shard; None when the shard's part is missing."""


class StreamGroup(Generic[Target]):
    """The shard streams one step of a query reads.

    Args:
        pool: Threads the page requests run on.
        fetch: Posts one cursor request to a shard.
    """

    def __init__(self, pool: Executor, fetch: FetchPage[Target]) -> None:
        self._pool = pool
        self._fetch = fetch
        self._streams: list[_Stream[Target]] = []
        self._reading_on = False

    def open(
        self, target: Target, body: dict[str, Any], page: int = FIRST_PAGE
    ) -> Iterator[Any]:
        """Starts a stream over ``target``'s rows for the query request ``body``."""
        stream = _Stream(self, target, {**body, "batch_size": page})
        self._streams.append(stream)
        return stream.rows()

    def read_on(self) -> None:
        """Has every stream ask for its next page now, and each later one early."""
        if self._reading_on:
            return
        self._reading_on = True
        for stream in self._streams:
            stream.ask_next()

    @property
    def reading_on(self) -> bool:
        """Whether the reader wants more than the first pages."""
        return self._reading_on

    def submit(self, target: Target, body: dict[str, Any]) -> Future[Page | None]:
        """Requests one page in the background."""
        return self._pool.submit(self._fetch, target, body)


class _Stream(Generic[Target]):
    def __init__(
        self, group: StreamGroup[Target], target: Target, body: dict[str, Any]
    ) -> None:
        self._group = group
        self._target = target
        self._body = body
        self._page: Page | None = None
        self._upcoming: Future[Page | None] | None = group.submit(target, dict(body))

    def ask_next(self) -> None:
        """Asks for the page after the current one, unless it is asked already."""
        page = self._page
        if self._upcoming is not None or page is None or not page.get("has_more"):
            return
        self._body["cursor"] = page["next_cursor"]
        self._body["batch_size"] = min(LARGEST_PAGE, self._body["batch_size"] * 4)
        self._upcoming = self._group.submit(self._target, dict(self._body))

    def rows(self) -> Iterator[Any]:
        while self._upcoming is not None:
            page = self._upcoming.result()
            self._upcoming = None
            if page is None:
                return
            self._page = page
            if self._group.reading_on:
                self.ask_next()
            yield from page["items"]
            if not page.get("has_more"):
                return
            self._group.read_on()
            self.ask_next()
