"""COLLECT: grouping, aggregation, INTO and WITH COUNT INTO."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from themis.aql._context import Context, Evaluator, Frame
from themis.aql._functions import lookup
from themis.aql._values import sort_key

AGGREGATES = frozenset(
    {
        "COUNT",
        "LENGTH",
        "SUM",
        "AVG",
        "AVERAGE",
        "MIN",
        "MAX",
        "UNIQUE",
        "SORTED_UNIQUE",
        "COUNT_DISTINCT",
        "COUNT_UNIQUE",
    }
)


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One ``name = FUNC(expr)`` of an AGGREGATE clause; `expr` None counts rows."""

    function: str
    expr: Evaluator | None

    def finish(self, values: list[Any], rows: int) -> Any:
        """Return the aggregate over the collected `values` of `rows` rows."""
        if self.function in ("COUNT", "LENGTH"):
            return rows
        impl: Callable[[Any], Any] = lookup(self.function).impl
        return impl(values)


class _Group:
    __slots__ = ("keys", "prefix", "projected", "rows", "values")

    def __init__(self, keys: list[Any], prefix: Frame, aggregates: int) -> None:
        self.keys = keys
        self.prefix = prefix
        self.rows = 0
        self.values: list[list[Any]] = [[] for _ in range(aggregates)]
        self.projected: list[Any] = []


@dataclass(slots=True)
class Collect:
    """Group frames and emit one frame per group, ordered by the group values.

    Attributes:
        base: Frame slots kept from enclosing queries.
        groups: Group key expressions.
        aggregates: AGGREGATE clauses.
        into: Projects each frame into the INTO array, or None without INTO.
        count: Whether ``WITH COUNT INTO`` adds the group size.
    """

    base: int
    groups: Sequence[Evaluator]
    aggregates: Sequence[Aggregate]
    into: Evaluator | None
    count: bool

    def run(self, rows: Iterator[Frame], ctx: Context) -> Iterator[Frame]:
        found: dict[tuple[Any, ...], _Group] = {}
        try:
            for frame in rows:
                self._add(found, frame, ctx)
            if not found and not self.groups:
                outer = ctx.memo.get(id(self), ())
                found[()] = _Group([], outer[: self.base], len(self.aggregates))
            for key in sorted(found):
                yield self._emit(found[key])
        finally:
            ctx.release(sum(group.rows for group in found.values()))

    def _add(
        self, found: dict[tuple[Any, ...], _Group], frame: Frame, ctx: Context
    ) -> None:
        keys = [group(frame, ctx) for group in self.groups]
        key = tuple(sort_key(value) for value in keys)
        group = found.get(key)
        if group is None:
            group = found[key] = _Group(keys, frame[: self.base], len(self.aggregates))
        group.rows += 1
        ctx.hold(1)
        for values, aggregate in zip(group.values, self.aggregates, strict=True):
            if aggregate.expr is not None:
                values.append(aggregate.expr(frame, ctx))
        if self.into is not None:
            group.projected.append(self.into(frame, ctx))

    def _emit(self, group: _Group) -> Frame:
        row = [*group.prefix, *group.keys]
        for values, aggregate in zip(group.values, self.aggregates, strict=True):
            row.append(aggregate.finish(values, group.rows))
        if self.into is not None:
            row.append(group.projected)
        if self.count:
            row.append(group.rows)
        return tuple(row)

    def describe(self, ctx: Context) -> dict[str, Any]:
        return {
            "type": "Collect",
            "groups": len(self.groups),
            "aggregates": [a.function for a in self.aggregates],
            "into": self.into is not None,
            "count": self.count,
        }


def project(names: Sequence[tuple[str, int]]) -> Evaluator:
    """Return an evaluator building the INTO object of the given variables."""
    return lambda frame, ctx: {name: frame[slot] for name, slot in names}
