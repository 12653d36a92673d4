"""A readers-writer lock for structures that many may read while one writes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["SharedLock"]


class SharedLock:
    """Many readers at once, or one writer alone; a waiting writer goes next.

    faiss searches release the GIL and may run together on one graph, but an add
    must not overlap any search.
    """

    def __init__(self) -> None:
        self._state = threading.Condition()
        self._readers = 0
        self._writing = False
        self._waiting_writers = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Holds the lock shared for the block."""
        with self._state:
            self._state.wait_for(
                lambda: not self._writing and not self._waiting_writers
            )
            self._readers += 1
        try:
            yield
        finally:
            with self._state:
                self._readers -= 1
                if not self._readers:
                    self._state.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Holds the lock exclusively for the block."""
        with self._state:
            self._waiting_writers += 1
            self._state.wait_for(lambda: not self._writing and not self._readers)
            self._waiting_writers -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._state:
                self._writing = False
                self._state.notify_all()
