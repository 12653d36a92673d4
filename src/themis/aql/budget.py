"""Resource limits for one query execution."""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["Budget", "Deadline"]


@dataclass(frozen=True, slots=True)
class Budget:
    """How much time and memory one execution may use.

    Attributes:
        max_seconds: Wall-clock seconds from the start of execution, including
            the time the consumer spends between rows, unless the execution's
            :class:`Deadline` is renewed.
        max_rows: Rows held in memory at once by SORT, COLLECT, DISTINCT and
            subqueries together.
    """

    max_seconds: float = 30.0
    max_rows: int = 1_000_000


class Deadline:
    """The moment an execution must stop; its owner may move it on.

    A cursor renews it before each page, so that the time budget bounds the work of
    one page and not the time a client takes between pages.

    Args:
        seconds: How far each renewal sets the deadline from now.
    """

    __slots__ = ("at", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def renew(self) -> None:
        """Sets the deadline ``seconds`` from now."""
        self.at = time.monotonic() + self.seconds
