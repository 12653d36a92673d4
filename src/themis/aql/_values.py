"""AQL value semantics: type order, comparison, truthiness and casting."""

from __future__ import annotations

import json
import math
from typing import Any

from themis.aql.errors import AqlExecutionError

_RANK: dict[type, int] = {
    type(None): 0,
    bool: 1,
    int: 2,
    float: 2,
    str: 3,
    list: 4,
    tuple: 4,
    dict: 5,
}
_NULL_KEY = (0,)
_TYPENAMES = ("null", "bool", "number", "string", "array", "object")

DOUBLE_BITS = 1024
"""Bits an integer may have before AQL takes it for infinite, like a double would."""


def rank(value: Any) -> int:
    """Return the position of the value's type in AQL type order."""
    try:
        return _RANK[type(value)]
    except KeyError:
        raise AqlExecutionError(f"unsupported value {value!r}") from None


def typename(value: Any) -> str:
    """Return the AQL type name of `value` (``TYPENAME()``)."""
    return _TYPENAMES[rank(value)]


def sort_key(value: Any) -> tuple[Any, ...]:
    """Return a hashable key whose Python ordering is AQL ordering.

    Arrays compare element-wise with missing elements read as null, which equals
    dropping trailing nulls because null is the smallest value. Objects compare
    by their sorted (name, value) pairs, ignoring null-valued attributes.
    """
    kind = type(value)
    if kind is str:
        return (3, value)
    if kind is int or kind is float:
        return (2, value)
    if value is None:
        return _NULL_KEY
    if kind is bool:
        return (1, value)
    if kind is list or kind is tuple:
        keys = [sort_key(item) for item in value]
        while keys and keys[-1] is _NULL_KEY:
            keys.pop()
        return (4, tuple(keys))
    if kind is dict:
        pairs = sorted((k, sort_key(v)) for k, v in value.items() if v is not None)
        return (5, tuple(pairs))
    raise AqlExecutionError(f"unsupported value {value!r}")


def compare(left: Any, right: Any) -> int:
    """Return -1, 0 or 1 as `left` sorts before, with or after `right`."""
    a, b = sort_key(left), sort_key(right)
    return (a > b) - (a < b)


def equal(left: Any, right: Any) -> bool:
    """Return whether two values are equal in AQL (type-strict, 1 == 1.0)."""
    kind = type(left)
    if kind is type(right) and (kind is str or kind is int):
        return bool(left == right)
    return sort_key(left) == sort_key(right)


def truthy(value: Any) -> bool:
    """Return the boolean value of `value`; arrays and objects are always true."""
    if value is None or value is False:
        return False
    if isinstance(value, list | dict):
        return True
    return bool(value)


def to_number(value: Any) -> int | float:
    """Cast a value to a number the way AQL's ``TO_NUMBER()`` does."""
    kind = type(value)
    if kind is int or kind is float:
        return value  # type: ignore[no-any-return]
    if value is None:
        return 0
    if kind is bool:
        return int(value)
    if kind is str:
        return _parse_number(value)
    if kind is list:
        return to_number(value[0]) if len(value) == 1 else 0
    return 0


def _parse_number(text: str) -> int | float:
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        number = float(stripped)
    except ValueError:
        return 0
    return number if math.isfinite(number) else 0


def to_string(value: Any) -> str:
    """Cast a value to a string the way AQL's ``TO_STRING()`` does."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def format_float(value: float) -> str:
    """Format a float like JSON does, without a trailing ``.0``."""
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def finite(value: float | int) -> float | int | None:
    """Return `value`, or None for NaN and infinities (AQL has neither).

    An integer beyond the range of a double counts as infinite too, so that no
    arithmetic result grows without bound.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return None if value.bit_length() > DOUBLE_BITS else value


def to_bool(value: Any) -> bool:
    """Cast a value to a boolean (``TO_BOOL()``)."""
    return truthy(value)


def to_array(value: Any) -> list[Any]:
    """Cast a value to an array (``TO_ARRAY()``)."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]
