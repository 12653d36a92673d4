"""Internal aggregates that compute mergeable partial results on one shard.

A coordinating node pushes ``COLLECT ... AGGREGATE`` down to the shards with these
functions, merges their summaries and finishes them into exactly what the ordinary
aggregate returns over all rows. Values come paired with their document's ``_key``:
the ordinary engine reads a collection in key order, so where it keeps the first of
several equal values (MIN, MAX, UNIQUE), the smallest key decides across shards too.
"""

from __future__ import annotations

from typing import Any

from themis.aql._functions._registry import register
from themis.aql._functions.arrays import numbers
from themis.aql._values import sort_key

Pair = list[Any]
"""``[value, _key]`` of one row."""


def exact_parts(values: list[int | float]) -> list[float]:
    """Return floats whose exact sum is the exact sum of ``float(v)`` for `values`.

    Rounding each shard's total would change the last digit of a float sum; these
    non-overlapping parts keep every bit, so ``math.fsum`` over the parts of all
    shards equals ``math.fsum`` over all values.
    """
    parts: list[float] = []
    for value in values:
        carry = float(value)
        kept: list[float] = []
        for part in parts:
            big, small = (carry, part) if abs(carry) >= abs(part) else (part, carry)
            high = big + small
            low = small - (high - big)
            if low:
                kept.append(low)
            carry = high
        kept.append(carry)
        parts = kept
    return parts


@register("_SUM_PARTIAL")
def sum_partial(values: Any) -> list[Any]:
    """Summarise SUM and AVG: [all numbers, any float, count, int total, parts]."""
    found = numbers(values) if isinstance(values, list) else None
    if found is None:
        return [False, False, 0, 0, []]
    has_float = any(type(v) is float for v in found)
    whole = sum(v for v in found if type(v) is int)
    return [True, has_float, len(found), whole, exact_parts(found)]


@register("_FIRST_PARTIAL")
def first_partial(values: Any) -> Any:
    """Return the first value of a group, in the order its rows were read."""
    return values[0] if isinstance(values, list) and values else None


@register("_MIN_PARTIAL")
def min_partial(values: Any) -> Pair | None:
    """Return the ``[value, _key]`` of the smallest non-null value, or null."""
    present = [p for p in values if p[0] is not None]
    return min(present, key=_value_then_key, default=None)


@register("_MAX_PARTIAL")
def max_partial(values: Any) -> Pair | None:
    """Return the ``[value, _key]`` of the largest non-null value, or null.

    Of equal values the one with the smallest key wins, as the first one read.
    """
    present = sorted((p for p in values if p[0] is not None), key=_key)
    return max(present, key=lambda pair: sort_key(pair[0]), default=None)


@register("_UNIQUE_PARTIAL")
def unique_partial(values: Any) -> list[Pair]:
    """Return each distinct value once, with the smallest key it occurs under."""
    first: dict[tuple[Any, ...], Pair] = {}
    for pair in values:
        key = sort_key(pair[0])
        known = first.get(key)
        if known is None or pair[1] < known[1]:
            first[key] = pair
    return list(first.values())


def _value_then_key(pair: Pair) -> tuple[Any, ...]:
    return (sort_key(pair[0]), pair[1])


def _key(pair: Pair) -> str:
    return str(pair[1])
