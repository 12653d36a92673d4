"""Resource limits for one query execution."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Budget"]


@dataclass(frozen=True, slots=True)
class Budget:
    """How much time and memory one execution may use.

    Attributes:
        max_seconds: Wall-clock seconds from the start of execution, including
            the time the consumer spends between rows.
        max_rows: Rows held in memory at once by SORT, COLLECT, DISTINCT and
            subqueries together.
    """

    max_seconds: float = 30.0
    max_rows: int = 1_000_000
