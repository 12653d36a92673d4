"""Expressions to Python closures ``(frame, context) -> value``.

Closures are built once per compiled query, so evaluating a row never walks the
AST; attribute paths on a variable collapse into a single closure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from themis.aql import _ast as ast
from themis.aql._context import Context, Evaluator, Frame
from themis.aql._functions import lookup
from themis.aql._functions.arrays import flatten as flatten_array
from themis.aql._functions.arrays import make_range
from themis.aql._operators import BINARY, UNARY, array_compare
from themis.aql._scope import CURRENT, Scope
from themis.aql._values import to_number, to_string, truthy
from themis.aql.errors import AqlError, AqlExecutionError

SubqueryRunner = Callable[[Frame, Context], Iterator[Any]]
SubqueryCompiler = Callable[[ast.QueryNode, Scope], SubqueryRunner]


class ExpressionCompiler:
    """Compile expression nodes within one query, recording bind parameters.

    Args:
        subquery: Compiles a nested query for a given scope.
    """

    def __init__(self, subquery: SubqueryCompiler) -> None:
        self.binds: set[str] = set()
        self._plan_subquery = subquery

    def compile(self, node: ast.Expr, scope: Scope) -> Evaluator:
        """Return the closure evaluating `node` on frames shaped by `scope`."""
        method = getattr(self, f"_{type(node).__name__.lower()}")
        result: Evaluator = method(node, scope)
        return result

    def _literal(self, node: ast.Literal, scope: Scope) -> Evaluator:
        value = node.value
        return lambda frame, ctx: value

    def _bindparam(self, node: ast.BindParam, scope: Scope) -> Evaluator:
        name = node.name
        self.binds.add(name)
        return lambda frame, ctx: ctx.binds[name]

    def _variable(self, node: ast.Variable, scope: Scope) -> Evaluator:
        slot = scope.lookup(node.name)
        if slot is None:
            raise AqlExecutionError(f"unknown variable '{node.name}'")
        return lambda frame, ctx: frame[slot]

    def _current(self, node: ast.Current, scope: Scope) -> Evaluator:
        return self._variable(ast.Variable(CURRENT), scope)

    def _attribute(self, node: ast.Attribute, scope: Scope) -> Evaluator:
        path: list[str] = []
        base: ast.Expr = node
        while isinstance(base, ast.Attribute):
            path.append(base.name)
            base = base.obj
        path.reverse()
        if isinstance(base, ast.Variable | ast.Current):
            name = base.name if isinstance(base, ast.Variable) else CURRENT
            slot = scope.lookup(name)
            if slot is not None:
                return _slot_path(slot, tuple(path))
        return _path(self.compile(base, scope), tuple(path))

    def _index(self, node: ast.Index, scope: Scope) -> Evaluator:
        obj, index = self.compile(node.obj, scope), self.compile(node.index, scope)
        return lambda frame, ctx: item(obj(frame, ctx), index(frame, ctx))

    def _expand(self, node: ast.Expand, scope: Scope) -> Evaluator:
        base = self.compile(node.base, scope)
        inner_scope, _ = scope.with_current()
        inner = self.compile(node.inner, inner_scope)
        depth = node.flatten

        def expand(frame: Frame, ctx: Context) -> Any:
            values = base(frame, ctx)
            if not isinstance(values, list):
                return []
            if depth:
                values = flatten_array(values, depth) or []
            return [inner((*frame, value), ctx) for value in values]

        return expand

    def _arraylit(self, node: ast.ArrayLit, scope: Scope) -> Evaluator:
        items = [self.compile(i, scope) for i in node.items]
        if all(isinstance(i, ast.Literal) for i in node.items):
            constant = [i.value for i in node.items]  # type: ignore[attr-defined]
            return lambda frame, ctx: list(constant)
        return lambda frame, ctx: [i(frame, ctx) for i in items]

    def _objectlit(self, node: ast.ObjectLit, scope: Scope) -> Evaluator:
        pairs: list[tuple[str | Evaluator, Evaluator]] = []
        for key, value in node.items:
            compiled_key = key if isinstance(key, str) else self.compile(key, scope)
            pairs.append((compiled_key, self.compile(value, scope)))
        if all(isinstance(k, str) for k, _ in pairs):
            fixed = [(str(k), v) for k, v in pairs]
            return lambda frame, ctx: {k: v(frame, ctx) for k, v in fixed}
        return lambda frame, ctx: _build_object(pairs, frame, ctx)

    def _unary(self, node: ast.Unary, scope: Scope) -> Evaluator:
        operand, op = self.compile(node.operand, scope), UNARY[node.op]
        return lambda frame, ctx: op(operand(frame, ctx))

    def _binary(self, node: ast.Binary, scope: Scope) -> Evaluator:
        left, right = self.compile(node.left, scope), self.compile(node.right, scope)
        op = BINARY[node.op]
        return lambda frame, ctx: op(left(frame, ctx), right(frame, ctx))

    def _logic(self, node: ast.Logic, scope: Scope) -> Evaluator:
        left, right = self.compile(node.left, scope), self.compile(node.right, scope)
        if node.op == "AND":

            def conjunction(frame: Frame, ctx: Context) -> Any:
                value = left(frame, ctx)
                return right(frame, ctx) if truthy(value) else value

            return conjunction

        def disjunction(frame: Frame, ctx: Context) -> Any:
            value = left(frame, ctx)
            return value if truthy(value) else right(frame, ctx)

        return disjunction

    def _arraycompare(self, node: ast.ArrayCompare, scope: Scope) -> Evaluator:
        left, right = self.compile(node.left, scope), self.compile(node.right, scope)
        op = array_compare(node.quantifier, node.op)
        return lambda frame, ctx: op(left(frame, ctx), right(frame, ctx))

    def _ternary(self, node: ast.Ternary, scope: Scope) -> Evaluator:
        cond, other = self.compile(node.cond, scope), self.compile(node.other, scope)
        then = self.compile(node.then, scope) if node.then is not None else None

        def choose(frame: Frame, ctx: Context) -> Any:
            value = cond(frame, ctx)
            if truthy(value):
                return value if then is None else then(frame, ctx)
            return other(frame, ctx)

        return choose

    def lazy_range(self, node: ast.Range, scope: Scope) -> Evaluator:
        """Return an evaluator of ``low..high`` as a Python range, for FOR to walk.

        Nothing is materialised, so a FOR over a range of any length costs only the
        time it runs, which the query's budget bounds.
        """
        low, high = self.compile(node.low, scope), self.compile(node.high, scope)

        def span(frame: Frame, ctx: Context) -> range:
            start = int(to_number(low(frame, ctx)))
            stop = int(to_number(high(frame, ctx)))
            return (
                range(start, stop + 1) if stop >= start else range(start, stop - 1, -1)
            )

        return span

    def _range(self, node: ast.Range, scope: Scope) -> Evaluator:
        low, high = self.compile(node.low, scope), self.compile(node.high, scope)

        def span(frame: Frame, ctx: Context) -> list[int | float]:
            start = int(to_number(low(frame, ctx)))
            values: list[int | float] = make_range(
                start, int(to_number(high(frame, ctx)))
            )
            return values

        return span

    def _call(self, node: ast.Call, scope: Scope) -> Evaluator:
        function = lookup(node.name)
        function.check_arity(len(node.args))
        args = [self.compile(arg, scope) for arg in node.args]
        impl, name = function.impl, function.name
        needs_source = function.needs_source

        def call(frame: Frame, ctx: Context) -> Any:
            values = [arg(frame, ctx) for arg in args]
            if needs_source:
                values.insert(0, ctx.source)
            try:
                return impl(*values)
            except AqlError:
                raise
            except (TypeError, ValueError, OverflowError, IndexError) as error:
                raise AqlExecutionError(
                    f"function '{name}()' failed: {error}"
                ) from None

        return call

    def _subquery(self, node: ast.Subquery, scope: Scope) -> Evaluator:
        runner = self._plan_subquery(node.query, scope.child())

        def run(frame: Frame, ctx: Context) -> list[Any]:
            rows: list[Any] = []
            try:
                for row in runner(frame, ctx):
                    rows.append(row)
                    ctx.hold(1)
            finally:
                ctx.release(len(rows))
            return rows

        return run


def item(container: Any, index: Any) -> Any:
    """Return ``container[index]`` with AQL rules: negative indexes, null if absent."""
    if isinstance(container, list):
        if type(index) not in (int, float):
            index = to_number(index)
        position = int(index)
        if position < 0:
            position += len(container)
        return container[position] if 0 <= position < len(container) else None
    if isinstance(container, dict):
        return container.get(to_string(index))
    return None


def _slot_path(slot: int, path: tuple[str, ...]) -> Evaluator:
    if len(path) == 1:
        name = path[0]

        def attribute(frame: Frame, ctx: Context) -> Any:
            value = frame[slot]
            return value.get(name) if type(value) is dict else None

        return attribute

    def walk(frame: Frame, ctx: Context) -> Any:
        value = frame[slot]
        for name in path:
            if type(value) is not dict:
                return None
            value = value.get(name)
        return value

    return walk


def _path(base: Evaluator, path: tuple[str, ...]) -> Evaluator:
    def walk(frame: Frame, ctx: Context) -> Any:
        value = base(frame, ctx)
        for name in path:
            if type(value) is not dict:
                return None
            value = value.get(name)
        return value

    return walk


def _build_object(
    pairs: list[tuple[str | Evaluator, Evaluator]], frame: Frame, ctx: Context
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        name = key if isinstance(key, str) else to_string(key(frame, ctx))
        result[name] = value(frame, ctx)
    return result


def attribute_path(node: ast.Expr) -> tuple[str, tuple[str, ...]] | None:
    """Return (variable, path) when `node` is ``var.a.b``, else None."""
    path: list[str] = []
    while isinstance(node, ast.Attribute):
        path.append(node.name)
        node = node.obj
    if not isinstance(node, ast.Variable) or not path:
        return None
    return node.name, tuple(reversed(path))
