"""Numeric functions."""

from __future__ import annotations

import math
import random
from typing import Any

from themis.aql._functions._registry import register
from themis.aql._values import DOUBLE_BITS, finite, to_number


def _float_op(op: Any, *values: Any) -> float | int | None:
    try:
        return finite(op(*(to_number(v) for v in values)))
    except (ValueError, OverflowError, ZeroDivisionError):
        return None


@register("ABS")
def _abs(value: Any) -> int | float:
    return abs(to_number(value))


@register("ROUND")
def _round(value: Any) -> int:
    return math.floor(to_number(value) + 0.5)


@register("FLOOR")
def _floor(value: Any) -> int:
    return math.floor(to_number(value))


@register("CEIL")
def _ceil(value: Any) -> int:
    return math.ceil(to_number(value))


@register("SQRT")
def _sqrt(value: Any) -> float | int | None:
    return _float_op(math.sqrt, value)


@register("POW", min_args=2, max_args=2)
def _pow(base: Any, exponent: Any) -> float | int | None:
    def power(a: float, b: float) -> float | int:
        # An exact power past a double's range would only be thrown away, after
        # costing time and memory in proportion to the exponent.
        exact = type(a) is int and type(b) is int and b > 0 and abs(a) > 1
        if exact and b * math.log2(abs(a)) > DOUBLE_BITS:
            return math.inf
        result = a**b
        return result if isinstance(result, int | float) else math.nan

    return _float_op(power, base, exponent)


@register("LOG")
def _log(value: Any) -> float | int | None:
    return _float_op(math.log, value)


@register("LOG2")
def _log2(value: Any) -> float | int | None:
    return _float_op(math.log2, value)


@register("LOG10")
def _log10(value: Any) -> float | int | None:
    return _float_op(math.log10, value)


@register("EXP")
def _exp(value: Any) -> float | int | None:
    return _float_op(math.exp, value)


@register("RAND", min_args=0, max_args=0)
def _rand() -> float:
    return random.random()
