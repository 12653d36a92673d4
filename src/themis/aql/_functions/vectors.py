"""Vector functions over arrays of numbers."""

from __future__ import annotations

import math
from typing import Any

from themis.aql._functions._registry import register
from themis.aql.errors import AqlExecutionError


def _pair(name: str, left: Any, right: Any) -> tuple[list[float], list[float]]:
    for value in (left, right):
        if not isinstance(value, list) or not all(
            type(v) in (int, float) for v in value
        ):
            raise AqlExecutionError(f"function '{name}()' expects arrays of numbers")
    if len(left) != len(right):
        raise AqlExecutionError(
            f"function '{name}()' expects arrays of equal length, "
            f"got {len(left)} and {len(right)}"
        )
    return left, right


@register("COSINE_SIMILARITY", min_args=2, max_args=2)
def _cosine(left: Any, right: Any) -> float | None:
    a, b = _pair("COSINE_SIMILARITY", left, right)
    norm = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(
        math.fsum(y * y for y in b)
    )
    if norm == 0:
        return None
    return math.fsum(x * y for x, y in zip(a, b, strict=True)) / norm


@register("L2_DISTANCE", min_args=2, max_args=2)
def _l2(left: Any, right: Any) -> float:
    a, b = _pair("L2_DISTANCE", left, right)
    return math.sqrt(math.fsum((x - y) ** 2 for x, y in zip(a, b, strict=True)))


@register("L1_DISTANCE", min_args=2, max_args=2)
def _l1(left: Any, right: Any) -> float:
    a, b = _pair("L1_DISTANCE", left, right)
    return math.fsum(abs(x - y) for x, y in zip(a, b, strict=True))
