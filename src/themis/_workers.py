"""The threads a sync client runs its parallel requests on."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, cast

__all__ = ["Workers"]

T = TypeVar("T")
R = TypeVar("R")

POOL_SIZE = 32
"""Threads at most, over every call of one client made at the same time."""


class Workers:
    """A thread pool shared by one client's calls, started on first use.

    Threads stay for the client's life, so the requests of a batch leave together
    instead of waiting for new threads to start. A parallel step nested in another
    gets threads of its own, so the pool never waits on itself.
    """

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._local = threading.local()

    def map(self, work: Callable[[T], R], items: Sequence[T], limit: int) -> list[R]:
        """``[work(item) for item in items]``, at most ``limit`` at a time."""
        if getattr(self._local, "inside", False):
            with ThreadPoolExecutor(limit) as nested:
                return list(nested.map(work, items))
        results: list[R | None] = [None] * len(items)

        def lane(positions: range) -> None:
            for position in positions:
                results[position] = work(items[position])

        lanes = [range(start, len(items), limit) for start in range(limit)]
        own, *others = [ln for ln in lanes if ln]
        # The caller takes the first lane itself: one thread fewer to wake, and it
        # would only wait otherwise.
        futures = [self._started().submit(lane, ln) for ln in others]
        try:
            lane(own)
        finally:
            for future in futures:
                future.result()
        return cast(list[R], results)

    def close(self, *, wait: bool = True) -> None:
        """Stops the threads once their work is done.

        Args:
            wait: Whether to wait until they have stopped.
        """
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait)

    def _started(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    POOL_SIZE, "themis-worker", initializer=self._mark
                )
            return self._pool

    def _mark(self) -> None:
        self._local.inside = True
