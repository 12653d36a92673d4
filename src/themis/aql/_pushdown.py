"""COLLECT pushed down to the shards: partial aggregates computed where data lives.

``FOR x IN coll FILTER ... LET ... COLLECT ... AGGREGATE ...`` becomes, on a source that
offers ``aggregate()``, one shard-local query per shard returning one row per group
with mergeable summaries (see `themis.aql._functions.partials`). The coordinator
merges them by AQL equality of the group values and finishes each aggregate into
exactly what the ordinary COLLECT computes over all rows. Other sources run the
ordinary FOR, FILTER and COLLECT nodes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from themis.aql import _ast as ast
from themis.aql._collect import Collect
from themis.aql._context import Context, Frame
from themis.aql._functions import lookup
from themis.aql._functions.arrays import double_sum
from themis.aql._functions.partials import (
    Pair,
    max_partial,
    min_partial,
    unique_partial,
)
from themis.aql._nodes import Node
from themis.aql._scan import CollectionScan
from themis.aql._unparse import Unprintable, name, unparse
from themis.aql._values import finite, sort_key
from themis.aql.errors import AqlExecutionError

PARTIALS = {
    "COUNT": None,
    "LENGTH": None,
    "SUM": "_SUM_PARTIAL",
    "AVG": "_SUM_PARTIAL",
    "AVERAGE": "_SUM_PARTIAL",
    "MIN": "_MIN_PARTIAL",
    "MAX": "_MAX_PARTIAL",
    "UNIQUE": "_UNIQUE_PARTIAL",
    "SORTED_UNIQUE": "_UNIQUE_PARTIAL",
    "COUNT_DISTINCT": "_UNIQUE_PARTIAL",
    "COUNT_UNIQUE": "_UNIQUE_PARTIAL",
}
"""Mergeable aggregates and the internal aggregate summarising each on a shard."""

SUMMARIES = frozenset(
    {"_FIRST_PARTIAL", *(name for name in PARTIALS.values() if name is not None)}
)
"""The internal aggregates, accepted in AGGREGATE but not listed to users."""

_VOLATILE = frozenset({"RAND", "DATE_NOW"})
_PAIRED = frozenset({"_MIN_PARTIAL", "_MAX_PARTIAL", "_UNIQUE_PARTIAL"})


@dataclass(frozen=True, slots=True)
class PartialQuery:
    """The shard-local query of a pushed-down COLLECT.

    Each row it returns is ``[[first _key, group values], rows, summaries]``.

    Attributes:
        text: AQL reading the collection from the ``@@c`` bind parameter.
        binds: Its bind parameters, ``"@c"`` included.
    """

    text: str
    binds: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ShardPlan:
    """The shard-local text of a query level's leading FOR, FILTERs and COLLECT.

    Attributes:
        text: The shard-local AQL.
        binds: Value bind parameters the text reads.
        functions: The AGGREGATE functions in order.
        length: How many statements the plan replaces.
    """

    text: str
    binds: frozenset[str]
    functions: tuple[str, ...]
    length: int


def shard_plan(statements: Sequence[ast.Statement], scope: Any) -> ShardPlan | None:
    """Return the shard-local plan when the level starts with a pushable COLLECT.

    Args:
        statements: The statements of one query level.
        scope: The scope before the first statement.
    """
    if not statements or not isinstance(statements[0], ast.For):
        return None
    loop = statements[0]
    position = 1
    while position < len(statements) and isinstance(
        statements[position], ast.Filter | ast.Let
    ):
        position += 1
    collect = statements[position] if position < len(statements) else None
    if not isinstance(collect, ast.Collect) or not _loops_collection(loop, scope):
        return None
    steps = [s for s in statements[1:position] if isinstance(s, ast.Filter | ast.Let)]
    try:
        return _plan(loop.names[0], steps, collect, position + 1)
    except Unprintable:
        return None


def _loops_collection(loop: ast.For, scope: Any) -> bool:
    if len(loop.names) != 1 or loop.options is not None:
        return False
    if scope.lookup(loop.names[0]) is not None:
        return False
    source = loop.source
    if isinstance(source, ast.BindParam):
        return source.name.startswith("@")
    return isinstance(source, ast.Variable) and scope.lookup(source.name) is None


Step = ast.Filter | ast.Let


def _plan(
    var: str, steps: list[Step], collect: ast.Collect, length: int
) -> ShardPlan | None:
    if collect.into is not None or collect.into_expr is not None or collect.keep:
        return None
    calls = [expr for _, expr in collect.aggregates]
    if not all(_mergeable(call) for call in calls):
        return None
    # The shard-local text names its own variables _p...; a user's must not clash.
    names = {var}
    binds: set[str] = set()
    for step in steps:
        if not _portable(step.expr, names, binds):
            return None
        if isinstance(step, ast.Let):
            names.add(step.name)
    if any(known.startswith("_p") for known in names):
        return None
    keys = [expr for _, expr in collect.groups]
    arguments = [arg for call in calls for arg in call.args]  # type: ignore[attr-defined]
    if not all(_portable(e, names, binds) for e in [*keys, *arguments]):
        return None
    text = _text(var, steps, keys, calls)  # type: ignore[arg-type]
    functions = tuple(call.name for call in calls)  # type: ignore[attr-defined]
    return ShardPlan(text, frozenset(binds), functions, length)


def _mergeable(expr: ast.Expr) -> bool:
    if not isinstance(expr, ast.Call) or expr.name not in PARTIALS:
        return False
    if PARTIALS[expr.name] is None:
        return len(expr.args) <= 1
    return len(expr.args) == 1


def _portable(expr: ast.Expr, names: set[str], binds: set[str]) -> bool:
    """Whether `expr` means the same on a shard: it reads only `names` and binds."""
    if isinstance(expr, ast.Subquery | ast.Current | ast.Expand):
        return False
    if isinstance(expr, ast.Variable):
        return expr.name in names
    if isinstance(expr, ast.BindParam):
        binds.add(expr.name)
        return not expr.name.startswith("@")
    if isinstance(expr, ast.Call) and not _local_call(expr.name):
        return False
    return all(_portable(child, names, binds) for child in _children(expr))


def _local_call(function: str) -> bool:
    if function in _VOLATILE:
        return False
    try:
        # A function reading documents would see only the shard's own.
        return not lookup(function).needs_source
    except AqlExecutionError:
        return False


def _children(expr: ast.Expr) -> Iterator[ast.Expr]:
    for field in dataclasses.fields(expr):  # type: ignore[arg-type]
        value = getattr(expr, field.name)
        for item in value if isinstance(value, tuple) else (value,):
            for part in item if isinstance(item, tuple) else (item,):
                if isinstance(part, ast.Expr):
                    yield part


def _text(
    var: str, steps: list[Step], keys: list[ast.Expr], calls: list[ast.Call]
) -> str:
    loop = name(var)
    lines = [f"FOR {loop} IN @@c"]
    lines += [
        f"LET {name(step.name)} = {unparse(step.expr)}"
        if isinstance(step, ast.Let)
        else f"FILTER {unparse(step.expr)}"
        for step in steps
    ]
    groups = ", ".join(f"_pg{i} = {unparse(key)}" for i, key in enumerate(keys))
    # A shard reads the collection in _key order (the DataSource contract, kept
    # by index reads too), so each group's first row is its smallest key.
    first = f"_FIRST_PARTIAL([{loop}._key, [{', '.join(unparse(k) for k in keys)}]])"
    aggregates = ["_pn = COUNT()", f"_pfirst = {first}"]
    summaries = []
    for position, call in enumerate(calls):
        partial = PARTIALS[call.name]
        if partial is None:
            summaries.append("null")
            continue
        argument = unparse(call.args[0])
        if partial in _PAIRED:
            argument = f"[{argument}, {loop}._key]"
        aggregates.append(f"_pa{position} = {partial}({argument})")
        summaries.append(f"_pa{position}")
    lines.append(f"COLLECT {groups} AGGREGATE {', '.join(aggregates)}")
    lines.append(f"RETURN [_pfirst, _pn, [{', '.join(summaries)}]]")
    return " ".join(lines)


class _Group:
    __slots__ = ("first", "rows", "summaries", "values")

    def __init__(self, first: str, values: list[Any], summaries: list[Any]) -> None:
        self.first = first
        self.values = values
        self.rows = 0
        self.summaries = summaries


def merge(rows: Iterable[list[Any]], functions: Sequence[str]) -> dict[Any, _Group]:
    """Merge the shards' partial rows into one group per distinct group value."""
    found: dict[tuple[Any, ...], _Group] = {}
    for (first, values), count, summaries in (r for r in rows if r[1]):
        key = tuple(sort_key(value) for value in values)
        group = found.get(key)
        if group is None:
            group = found[key] = _Group(first, values, summaries)
        else:
            _combine(group, summaries, functions)
            if first < group.first:
                # The ordinary COLLECT keeps the group values of the first row read.
                group.first, group.values = first, values
        group.rows += count
    return found


def _combine(group: _Group, summaries: list[Any], functions: Sequence[str]) -> None:
    merged = []
    for function, mine, theirs in zip(
        functions, group.summaries, summaries, strict=True
    ):
        merged.append(_COMBINE[PARTIALS[function]](mine, theirs))
    group.summaries = merged


def _add_sums(a: list[Any], b: list[Any]) -> list[Any]:
    return [a[0] and b[0], a[1] or b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4]]


def _pairs(a: Pair | None, b: Pair | None) -> list[Pair]:
    return [pair for pair in (a, b) if pair is not None]


_COMBINE: dict[str | None, Callable[[Any, Any], Any]] = {
    None: lambda a, b: None,
    "_SUM_PARTIAL": _add_sums,
    "_MIN_PARTIAL": lambda a, b: min_partial(_pairs(a, b)),
    "_MAX_PARTIAL": lambda a, b: max_partial(_pairs(a, b)),
    "_UNIQUE_PARTIAL": lambda a, b: unique_partial(a + b),
}

_EMPTY: dict[str | None, Any] = {
    None: None,
    "_SUM_PARTIAL": [True, False, 0, 0, []],
    "_MIN_PARTIAL": None,
    "_MAX_PARTIAL": None,
    "_UNIQUE_PARTIAL": [],
}


def finish(function: str, summary: Any, rows: int) -> Any:
    """Return what AGGREGATE `function` gives for the merged `summary`."""
    if function in ("COUNT", "LENGTH"):
        return rows
    if function == "SUM":
        ok, has_float, _, whole, parts = summary
        return None if not ok else double_sum(parts) if has_float else finite(whole)
    if function in ("AVG", "AVERAGE"):
        ok, _, count, _, parts = summary
        total = double_sum(parts) if ok and count else None
        return None if total is None else total / count
    if function in ("MIN", "MAX"):
        return None if summary is None else summary[0]
    if function == "UNIQUE":
        return [value for value, _ in sorted(summary, key=lambda pair: pair[1])]
    if function == "SORTED_UNIQUE":
        return sorted((value for value, _ in summary), key=sort_key)
    return len(summary)


@dataclass(slots=True)
class PartialAggregate:
    """A query level's leading FOR, FILTERs and COLLECT, pushed down when possible.

    Attributes:
        plan: The shard-local query and the aggregate functions.
        scan: The FOR over the collection.
        fallback: The ordinary nodes, run when the source cannot aggregate.
        collect: The ordinary COLLECT node, last of `fallback`.
    """

    plan: ShardPlan
    scan: CollectionScan
    fallback: Sequence[Node]
    collect: Collect

    def run(self, rows: Iterator[Frame], ctx: Context) -> Iterator[Frame]:
        aggregate = getattr(ctx.source, "aggregate", None)
        for frame in rows:
            if aggregate is None:
                yield from self._ordinary(frame, ctx)
            else:
                yield from self._pushed(aggregate, frame, ctx)

    def _ordinary(self, frame: Frame, ctx: Context) -> Iterator[Frame]:
        ctx.memo[id(self.collect)] = frame
        stream: Iterator[Frame] = iter((frame,))
        for node in self.fallback:
            stream = node.run(stream, ctx)
        return stream

    def _pushed(
        self, aggregate: Callable[..., Any], frame: Frame, ctx: Context
    ) -> Iterator[Frame]:
        collection = self.scan.name(ctx)
        if not ctx.source.has_collection(collection):
            raise AqlExecutionError(f"collection or view not found: '{collection}'")
        binds = {"@c": collection, **{b: ctx.binds[b] for b in self.plan.binds}}
        query = PartialQuery(self.plan.text, binds)
        functions = self.plan.functions
        found = merge(aggregate(collection, query), functions)
        if not found and not self.collect.groups:
            found[()] = _Group("", [], [_EMPTY[PARTIALS[f]] for f in functions])
        ctx.hold(len(found))
        try:
            for key in sorted(found):
                ctx.tick()
                yield self._emit(frame[: self.collect.base], found[key])
        finally:
            ctx.release(len(found))

    def _emit(self, prefix: Frame, group: _Group) -> Frame:
        row = [*prefix, *group.values]
        for function, summary in zip(self.plan.functions, group.summaries, strict=True):
            row.append(finish(function, summary, group.rows))
        if self.collect.count:
            row.append(group.rows)
        return tuple(row)

    def parts(self, ctx: Context) -> Sequence[Node]:
        """Return the nodes that describe this step for explain on `ctx.source`."""
        if getattr(ctx.source, "aggregate", None) is None:
            return self.fallback
        return (self,)

    def describe(self, ctx: Context) -> dict[str, Any]:
        return {
            "type": "PartialAggregate",
            "collection": self.scan.name(ctx),
            "groups": len(self.collect.groups),
            "aggregates": list(self.plan.functions),
            "count": self.collect.count,
            "shardQuery": self.plan.text,
        }
