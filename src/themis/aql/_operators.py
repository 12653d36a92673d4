"""Binary and unary operators on AQL values."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from themis.aql._functions.strings import like, regex_test
from themis.aql._values import equal, finite, sort_key, to_number, truthy
from themis.aql.errors import AqlExecutionError

Operator = Callable[[Any, Any], Any]
_NUMBERS = (int, float)


def _less(a: Any, b: Any) -> bool:
    if type(a) in _NUMBERS and type(b) in _NUMBERS:
        return bool(a < b)
    return sort_key(a) < sort_key(b)


def _less_equal(a: Any, b: Any) -> bool:
    if type(a) in _NUMBERS and type(b) in _NUMBERS:
        return bool(a <= b)
    return sort_key(a) <= sort_key(b)


def member(value: Any, values: Any) -> bool:
    """Return whether `value` is equal to some element of the array `values`."""
    if not isinstance(values, list):
        return False
    return any(equal(value, item) for item in values)


def _divide(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if y == 0:
        raise AqlExecutionError("division by zero")
    if type(x) is int and type(y) is int and x % y == 0:
        return x // y
    return finite(x / y)


def _modulo(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if y == 0:
        raise AqlExecutionError("division by zero")
    if type(x) is int and type(y) is int:
        remainder = abs(x) % abs(y)
        return -remainder if x < 0 else remainder
    return finite(math.fmod(x, y))


def _add(a: Any, b: Any) -> Any:
    if type(a) in _NUMBERS and type(b) in _NUMBERS:
        return finite(a + b)
    return finite(to_number(a) + to_number(b))


def _subtract(a: Any, b: Any) -> Any:
    return finite(to_number(a) - to_number(b))


def _multiply(a: Any, b: Any) -> Any:
    return finite(to_number(a) * to_number(b))


BINARY: dict[str, Operator] = {
    "==": equal,
    "!=": lambda a, b: not equal(a, b),
    "<": _less,
    "<=": _less_equal,
    ">": lambda a, b: _less(b, a),
    ">=": lambda a, b: _less_equal(b, a),
    "IN": member,
    "NOT IN": lambda a, b: not member(a, b),
    "LIKE": like,
    "NOT LIKE": lambda a, b: not like(a, b),
    "=~": regex_test,
    "!~": lambda a, b: not regex_test(a, b),
    "+": _add,
    "-": _subtract,
    "*": _multiply,
    "/": _divide,
    "%": _modulo,
}

UNARY: dict[str, Callable[[Any], Any]] = {
    "NOT": lambda a: not truthy(a),
    "-": lambda a: finite(-to_number(a)),
    "+": to_number,
}


def array_compare(quantifier: str, op: str) -> Operator:
    """Return the operator ``left <quantifier> <op> right`` for arrays on the left."""
    compare = BINARY[op]

    def any_(left: Any, right: Any) -> bool:
        return isinstance(left, list) and any(compare(x, right) for x in left)

    def all_(left: Any, right: Any) -> bool:
        return isinstance(left, list) and all(compare(x, right) for x in left)

    def none_(left: Any, right: Any) -> bool:
        return isinstance(left, list) and not any(compare(x, right) for x in left)

    return {"ANY": any_, "ALL": all_, "NONE": none_}[quantifier]
