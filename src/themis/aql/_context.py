"""Per-execution state shared by every plan node: source, binds and budget."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from themis.aql.budget import Budget, Deadline
from themis.aql.errors import AqlLimitError
from themis.aql.source import DataSource

Frame = tuple[Any, ...]
_CHECK_EVERY = 1024


class Context:
    """The state of one query execution.

    Args:
        source: Where collections, documents and edges come from.
        binds: Bind parameter values by name (``"@coll"`` for ``@@coll``).
        budget: Time and memory limits.
        deadline: When to stop; by default ``budget.max_seconds`` from now.
    """

    __slots__ = ("_countdown", "binds", "budget", "deadline", "held", "memo", "source")

    def __init__(
        self,
        source: DataSource,
        binds: Mapping[str, Any],
        budget: Budget,
        deadline: Deadline | None = None,
    ) -> None:
        self.source = source
        self.binds = binds
        self.budget = budget
        self.deadline = deadline or Deadline(budget.max_seconds)
        self.held = 0
        self.memo: dict[int, Any] = {}
        self._countdown = _CHECK_EVERY

    def tick(self) -> None:
        """Count one unit of work; check the clock every so often."""
        self._countdown -= 1
        if self._countdown <= 0:
            self._countdown = _CHECK_EVERY
            self.check_time()

    def check_time(self) -> None:
        """Raise AqlLimitError when the time budget is spent."""
        if time.monotonic() > self.deadline.at:
            seconds = f"{self.budget.max_seconds:g}"
            raise AqlLimitError(f"query exceeded the time budget of {seconds} s")

    def hold(self, rows: int) -> None:
        """Record `rows` more rows held in memory, enforcing the budget."""
        self.held += rows
        if self.held > self.budget.max_rows:
            raise AqlLimitError(
                f"query exceeded the memory budget of {self.budget.max_rows} rows"
            )
        self.tick()

    def release(self, rows: int) -> None:
        """Record that `rows` rows are no longer held."""
        self.held -= rows


Evaluator = Callable[[Frame, Context], Any]
