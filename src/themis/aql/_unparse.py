"""AQL text from expression trees, for the parts of a query sent to other nodes."""

from __future__ import annotations

import math
from typing import Any

import orjson

from themis.aql import _ast as ast


class Unprintable(Exception):
    """An expression this printer does not turn back into text."""


def unparse(expr: ast.Expr) -> str:
    """Return AQL text that evaluates like `expr`, fully parenthesised.

    Raises:
        Unprintable: `expr` holds a subquery, an ``[*]`` expansion or a literal
            AQL cannot spell.
    """
    if isinstance(expr, ast.Literal):
        return literal(expr.value)
    if isinstance(expr, ast.BindParam):
        return f"@{expr.name}"
    if isinstance(expr, ast.Variable):
        return name(expr.name)
    if isinstance(expr, ast.Attribute):
        return f"{unparse(expr.obj)}.{name(expr.name)}"
    if isinstance(expr, ast.Index):
        return f"{unparse(expr.obj)}[{unparse(expr.index)}]"
    if isinstance(expr, ast.Call):
        return f"{expr.name}({', '.join(unparse(a) for a in expr.args)})"
    if isinstance(expr, ast.ArrayLit):
        return f"[{', '.join(unparse(item) for item in expr.items)}]"
    if isinstance(expr, ast.ObjectLit):
        return "{" + ", ".join(_pair(k, v) for k, v in expr.items) + "}"
    return _operation(expr)


def _operation(expr: ast.Expr) -> str:
    if isinstance(expr, ast.Unary):
        return f"({expr.op} {unparse(expr.operand)})"
    if isinstance(expr, ast.Binary | ast.Logic):
        return f"({unparse(expr.left)} {expr.op} {unparse(expr.right)})"
    if isinstance(expr, ast.ArrayCompare):
        op = f"{expr.quantifier} {expr.op}"
        return f"({unparse(expr.left)} {op} {unparse(expr.right)})"
    if isinstance(expr, ast.Ternary):
        then = "" if expr.then is None else f" {unparse(expr.then)} "
        return f"({unparse(expr.cond)} ?{then}: {unparse(expr.other)})"
    if isinstance(expr, ast.Range):
        return f"({unparse(expr.low)} .. {unparse(expr.high)})"
    raise Unprintable(type(expr).__name__)


def _pair(key: str | ast.Expr, value: ast.Expr) -> str:
    if isinstance(key, str):
        return f"{literal(key)}: {unparse(value)}"
    return f"[{unparse(key)}]: {unparse(value)}"


def literal(value: Any) -> str:
    """Return AQL text for a JSON value.

    Raises:
        Unprintable: `value` is not finite or not a JSON value.
    """
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Unprintable(repr(value))
        # The grammar has no negative number literal, only unary minus.
        if math.copysign(1, value) < 0:
            return f"(- {-value!r})"
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            text = str(abs(value))
        except ValueError as exc:
            raise Unprintable("an integer too long to print") from exc
        return f"(- {text})" if value < 0 else text
    if isinstance(value, list):
        return f"[{', '.join(literal(item) for item in value)}]"
    if isinstance(value, dict):
        pairs = (f"{literal(k)}: {literal(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:
        raise Unprintable(repr(value)) from exc


def name(text: str) -> str:
    """Return a variable or attribute name quoted so that no keyword captures it."""
    return "`" + text.replace("\\", "\\\\").replace("`", "\\`") + "`"
