"""Metadata filters of vector searches: field conditions matched against documents.

A filter is an object of field conditions. A plain value means equality; an object
holds operators (`$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte`, `$in`). Dotted names
reach into nested objects. Comparisons never mix types: JSON ``true`` is not ``1``,
and ranges compare only number with number or string with string.
"""

from __future__ import annotations

from typing import Any

from themis.server.errors import BadRequest

__all__ = ["check_filter", "describe", "matches"]


def describe(value: Any) -> str:
    """A short ``type value`` form of a received value for error messages."""
    return f"{type(value).__name__} {value!r:.40}"


_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in")


def check_filter(spec: Any) -> dict[str, Any]:
    """Validate a metadata filter and return it.

    Raises:
        BadRequest: the filter is not an object of field conditions.
    """
    if not isinstance(spec, dict):
        raise BadRequest(
            f"expected 'filter' to be an object, received {describe(spec)}"
        )
    for name, condition in spec.items():
        if not isinstance(condition, dict):
            continue
        for operator, operand in condition.items():
            if operator not in _OPERATORS:
                raise BadRequest(
                    f"expected filter operators {', '.join(_OPERATORS)} on "
                    f"{name!r}, received {operator!r}"
                )
            if operator == "$in" and not isinstance(operand, list):
                raise BadRequest(
                    f"expected '$in' on {name!r} to be an array, "
                    f"received {describe(operand)}"
                )
    return spec


def matches(doc: dict[str, Any], spec: dict[str, Any]) -> bool:
    """Whether a document satisfies every condition of a filter."""
    for name, condition in spec.items():
        present, value = _lookup(doc, name)
        if not isinstance(condition, dict):
            condition = {"$eq": condition}
        for operator, operand in condition.items():
            if not _holds(operator, present, value, operand):
                return False
    return True


def _lookup(doc: dict[str, Any], path: str) -> tuple[bool, Any]:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _holds(operator: str, present: bool, value: Any, operand: Any) -> bool:
    if operator == "$ne":
        return not (present and _equal(value, operand))
    if not present:
        return False
    if operator == "$eq":
        return _equal(value, operand)
    if operator == "$in":
        return any(_equal(value, item) for item in operand)
    if not _comparable(value, operand):
        return False
    if operator == "$gt":
        return bool(value > operand)
    if operator == "$gte":
        return bool(value >= operand)
    if operator == "$lt":
        return bool(value < operand)
    return bool(value <= operand)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, int | float) else type(value).__name__


def _equal(left: Any, right: Any) -> bool:
    # JSON's true is not the number 1, although Python says so.
    return _kind(left) == _kind(right) and bool(left == right)


def _comparable(left: Any, right: Any) -> bool:
    kind = _kind(left)
    return kind == _kind(right) and kind in ("number", "str")
