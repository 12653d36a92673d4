"""Array functions; non-array arguments give null, as in ArangoDB."""

from __future__ import annotations

import math
from typing import Any

from themis.aql._functions._registry import register
from themis.aql._values import (
    DOUBLE_BITS,
    equal,
    finite,
    sort_key,
    to_number,
    to_string,
)
from themis.aql.errors import AqlExecutionError


def unique(values: list[Any]) -> list[Any]:
    """Return `values` without duplicates, keeping first occurrences in order."""
    seen: set[tuple[Any, ...]] = set()
    result = []
    for value in values:
        key = sort_key(value)
        if key not in seen:
            seen.add(key)
            result.append(value)
    return result


def numbers(values: list[Any]) -> list[int | float] | None:
    """Return the non-null members if all are numbers, else None.

    An integer beyond the range of a double counts as no number: SUM and AVG of it
    are null, as they would be of the infinity a double would hold.
    """
    result = []
    for value in values:
        if value is None:
            continue
        kind = type(value)
        if kind is float or (kind is int and value.bit_length() <= DOUBLE_BITS):
            result.append(value)
        else:
            return None
    return result


def double_sum(values: list[float]) -> float | None:
    """Return the correctly rounded sum of `values`, or None when it overflows."""
    try:
        return finite(math.fsum(values))
    except (OverflowError, ValueError):
        return None


@register("LENGTH", "COUNT")
def length(value: Any) -> int:
    """Return the length of a value (``LENGTH()``)."""
    if isinstance(value, list | dict | str):
        return len(value)
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    return len(to_string(value))


@register("MIN")
def _min(values: Any) -> Any:
    if not isinstance(values, list):
        return None
    present = [v for v in values if v is not None]
    return min(present, key=sort_key) if present else None


@register("MAX")
def _max(values: Any) -> Any:
    if not isinstance(values, list):
        return None
    present = [v for v in values if v is not None]
    return max(present, key=sort_key) if present else None


@register("SUM")
def total(values: Any) -> int | float | None:
    """Return the sum of an array of numbers (``SUM()``)."""
    found = numbers(values) if isinstance(values, list) else None
    if found is None:
        return None
    return double_sum(found) if _has_float(found) else finite(sum(found))


def _has_float(values: list[int | float]) -> bool:
    return any(type(v) is float for v in values)


@register("AVG", "AVERAGE")
def average(values: Any) -> float | None:
    """Return the mean of an array of numbers, or null when empty."""
    found = numbers(values) if isinstance(values, list) else None
    if not found:
        return None
    whole = double_sum(found)
    return None if whole is None else whole / len(found)


@register("MEDIAN")
def _median(values: Any) -> float | int | None:
    found = numbers(values) if isinstance(values, list) else None
    if not found:
        return None
    ordered = sorted(found)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


@register("FIRST")
def _first(values: Any) -> Any:
    return values[0] if isinstance(values, list) and values else None


@register("LAST")
def _last(values: Any) -> Any:
    return values[-1] if isinstance(values, list) and values else None


@register("NTH", min_args=2, max_args=2)
def _nth(values: Any, position: Any) -> Any:
    index = int(to_number(position))
    if not isinstance(values, list) or not 0 <= index < len(values):
        return None
    return values[index]


@register("UNIQUE")
def _unique(values: Any) -> list[Any] | None:
    return unique(values) if isinstance(values, list) else None


@register("SORTED")
def _sorted(values: Any) -> list[Any] | None:
    return sorted(values, key=sort_key) if isinstance(values, list) else None


@register("SORTED_UNIQUE")
def sorted_unique(values: Any) -> list[Any] | None:
    """Return the distinct members of an array in AQL order."""
    return sorted(unique(values), key=sort_key) if isinstance(values, list) else None


@register("COUNT_DISTINCT", "COUNT_UNIQUE")
def count_distinct(values: Any) -> int | None:
    """Return the number of distinct members of an array."""
    return len(unique(values)) if isinstance(values, list) else None


@register("FLATTEN", min_args=1, max_args=2)
def flatten(values: Any, depth: Any = 1) -> list[Any] | None:
    """Flatten nested arrays up to `depth` levels."""
    if not isinstance(values, list):
        return None
    result: list[Any] = []
    levels = int(to_number(depth))
    for value in values:
        if isinstance(value, list) and levels > 0:
            result.extend(flatten(value, levels - 1) or [])
        else:
            result.append(value)
    return result


@register("APPEND", min_args=2, max_args=3)
def _append(values: Any, more: Any, unique_only: Any = False) -> list[Any] | None:
    if not isinstance(values, list):
        return None
    extra = more if isinstance(more, list) else [more]
    if not unique_only:
        return values + extra
    return unique(values + extra)


@register("PUSH", min_args=2, max_args=3)
def _push(values: Any, value: Any, unique_only: Any = False) -> list[Any] | None:
    if not isinstance(values, list):
        return None
    if unique_only and any(equal(v, value) for v in values):
        return list(values)
    return [*values, value]


@register("POSITION", "CONTAINS_ARRAY", min_args=2, max_args=3)
def _position(values: Any, search: Any, return_index: Any = False) -> bool | int:
    if not isinstance(values, list):
        return -1 if return_index else False
    index = next((i for i, v in enumerate(values) if equal(v, search)), -1)
    return index if return_index else index >= 0


@register("SLICE", min_args=2, max_args=3)
def _slice(values: Any, start: Any, length: Any = None) -> list[Any] | None:
    if not isinstance(values, list):
        return None
    low = int(to_number(start))
    if low < 0:
        low = max(len(values) + low, 0)
    if length is None:
        return values[low:]
    count = int(to_number(length))
    high = low + count if count >= 0 else len(values) + count
    return values[low:high]


def _arrays(name: str, values: tuple[Any, ...]) -> list[list[Any]]:
    if len(values) == 1 and isinstance(values[0], list) and name == "UNION":
        return [values[0]]
    for value in values:
        if not isinstance(value, list):
            raise AqlExecutionError(
                f"function '{name}()' expects arrays, got {to_string(value)!r}"
            )
    return list(values)


@register("UNION", min_args=1, max_args=None)
def _union(*values: Any) -> list[Any]:
    return [item for array in _arrays("UNION", values) for item in array]


@register("UNION_DISTINCT", min_args=1, max_args=None)
def _union_distinct(*values: Any) -> list[Any]:
    return unique([i for array in _arrays("UNION_DISTINCT", values) for i in array])


@register("INTERSECTION", min_args=1, max_args=None)
def _intersection(*values: Any) -> list[Any]:
    first, *rest = _arrays("INTERSECTION", values)
    keys = [{sort_key(v) for v in array} for array in rest]
    return [v for v in unique(first) if all(sort_key(v) in k for k in keys)]


@register("MINUS", min_args=1, max_args=None)
def _minus(*values: Any) -> list[Any]:
    first, *rest = _arrays("MINUS", values)
    removed = {sort_key(v) for array in rest for v in array}
    return [v for v in unique(first) if sort_key(v) not in removed]


MAX_RANGE = 1_000_000
"""Most elements a range value may hold, as many as the default row budget."""


@register("RANGE", min_args=2, max_args=3)
def make_range(start: Any, stop: Any, step: Any = None) -> list[int | float]:
    """Return the numbers from `start` to `stop` inclusive."""
    low, high = to_number(start), to_number(stop)
    delta = to_number(step) if step is not None else (1 if high >= low else -1)
    if delta == 0 or (high - low) * delta < 0:
        return []
    count = int((high - low) / delta) + 1
    if count > MAX_RANGE:
        raise AqlExecutionError(
            f"range of {count} elements is too large; expected at most {MAX_RANGE} "
            "(FOR x IN low..high walks a range of any length without holding it)"
        )
    if all(type(v) is int for v in (low, high, delta)):
        return list(range(int(low), int(high) + (1 if delta > 0 else -1), int(delta)))
    return [low + i * delta for i in range(count)]
