"""Streaming pipeline nodes: FOR over values, FILTER, LET, LIMIT and SORT."""

from __future__ import annotations

import heapq
import itertools
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from themis.aql._context import Context, Evaluator, Frame
from themis.aql._values import sort_key, to_number, truthy, typename
from themis.aql.errors import AqlExecutionError


class Node(Protocol):
    """One step of a pipeline: turns a stream of frames into another."""

    def run(self, rows: Iterator[Frame], ctx: Context) -> Iterator[Frame]:
        """Yield the output frames for the input `rows`."""
        ...

    def describe(self, ctx: Context) -> dict[str, Any]:
        """Return a JSON-able description of the node for explain."""
        ...


@dataclass(slots=True)
class ForValues:
    """``FOR x IN <expr>``: one output frame per array element."""

    expr: Evaluator

    def run(self, rows: Iterator[Frame], ctx: Context) -> Iterator[Frame]:
        expr, tick = self.expr, ctx.tick
        for frame in rows:
            values = expr(frame, ctx)
            if not isinstance(values, list | range):
                raise AqlExecutionError(
                    f"FOR expects an array, got a value of type {typename(values)}"
                )
            for value in values:
                tick()
                yield (*frame, value)

    def describe(self, ctx: Context) -> dict[str, Any]:
        return {"type": "EnumerateList"}


@dataclass(slots=True)
class Filter:
    """``FILTER <expr>``: keep frames where the expression is truthy."""

    expr: Evaluator

    def run(self, rows: Iterator[Frame], ctx: Context) -> Iterator[Frame]:
        expr = self.expr
        for frame in rows:
            value = expr(frame, ctx)
            if value is True or (value is not False and truthy(value)):
                yield frame

    def describe(self, ctx: Context) -> dict[str, Any]:
        return {"type": "Filter"}


@dataclass(slots=True)
class Let:
    """``LET x = <expr>``: append the value to every frame."""

    expr: Evaluator

    def run(self, rows: Iterator[Frame], ctx: Context) -> Iterator[Frame]:
        expr = self.expr
        for frame in rows:
            yield (*frame, expr(frame, ctx))

    def describe(self, ctx: Context) -> dict[str, Any]:
        return {"type": "Let"}


def limit_values(offset: Evaluator, count: Evaluator, ctx: Context) -> tuple[int, int]:
    """Evaluate LIMIT's constant operands, checking they are non-negative ints."""
    values = []
    for evaluator in (offset, count):
        value = evaluator((), ctx)
        if (
            type(value) not in (int, float)
            or value < 0
            or (type(value) is float and not math.isfinite(value))
            or int(value) != value
        ):
            raise AqlExecutionError(
                f"LIMIT expects a non-negative integer, got {value!r}"
            )
        # Beyond sys.maxsize rows nothing is left to skip or keep apart.
        values.append(min(int(value), sys.maxsize))
    return values[0], values[1]


@dataclass(slots=True)
class Limit:
    """``LIMIT offset, count``: stops pulling once `count` rows passed."""

    offset: Evaluator
    count: Evaluator

    def run(self, rows: Iterator[Frame], ctx: Context) -> Iterator[Frame]:
        offset, count = limit_values(self.offset, self.count, ctx)
        return itertools.islice(rows, offset, offset + count)

    def describe(self, ctx: Context) -> dict[str, Any]:
        offset, count = limit_values(self.offset, self.count, ctx)
        return {"type": "Limit", "offset": offset, "count": count}


class _Descending:
    """Invert the order of a sort key inside a composite key."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key

    def __lt__(self, other: _Descending) -> bool:
        return other.key < self.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and other.key == self.key

    __hash__ = None  # type: ignore[assignment]


@dataclass(slots=True)
class Sort:
    """``SORT a [ASC|DESC], ...``; with a following LIMIT only the top rows stay.

    Attributes:
        keys: Sort expressions with their descending flags.
        top: The (offset, count) of the LIMIT fused into this sort, if any.
    """

    keys: Sequence[tuple[Evaluator, bool]]
    top: tuple[Evaluator, Evaluator] | None = None

    def run(self, rows: Iterator[Frame], ctx: Context) -> Iterator[Frame]:
        key = self._key(ctx)
        if self.top is not None:
            offset, count = limit_values(*self.top, ctx)
            ctx.hold(offset + count)
            try:
                best = heapq.nsmallest(offset + count, rows, key=key)
            finally:
                ctx.release(offset + count)
            yield from best
            return
        held: list[Frame] = []
        try:
            for frame in rows:
                held.append(frame)
                ctx.hold(1)
            held.sort(key=key)
            yield from held
        finally:
            ctx.release(len(held))

    def _key(self, ctx: Context) -> Any:
        keys = list(self.keys)
        if len(keys) == 1 and not keys[0][1]:
            first = keys[0][0]
            return lambda frame: sort_key(first(frame, ctx))

        def composite(frame: Frame) -> tuple[Any, ...]:
            parts = []
            for expr, descending in keys:
                part = sort_key(expr(frame, ctx))
                parts.append(_Descending(part) if descending else part)
            return tuple(parts)

        return composite

    def describe(self, ctx: Context) -> dict[str, Any]:
        info: dict[str, Any] = {"type": "Sort", "keys": len(self.keys)}
        if self.top is not None:
            offset, count = limit_values(*self.top, ctx)
            info["strategy"] = f"top {offset + count} heap"
        return info


def count_rows(value: Any) -> int:
    """Return an integer from a numeric value (used for depth bounds)."""
    return int(to_number(value))
