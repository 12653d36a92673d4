"""Query AST to a pipeline of plan nodes, including index candidates."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

from themis.aql import _ast as ast
from themis.aql._collect import AGGREGATES, Aggregate, Collect, project
from themis.aql._compiler import ExpressionCompiler, attribute_path
from themis.aql._context import Context, Evaluator, Frame
from themis.aql._graph import EdgeSource
from themis.aql._nearest import Shape, nearest_scan, shape
from themis.aql._nodes import Filter, ForValues, Let, Limit, Node, Sort
from themis.aql._pushdown import SUMMARIES, PartialAggregate, ShardPlan, shard_plan
from themis.aql._scan import Candidate, CollectionScan, IndexOrderedSort
from themis.aql._scope import Scope
from themis.aql._traversal import KShortestPaths, ShortestPath, Traversal
from themis.aql._values import sort_key
from themis.aql.errors import AqlExecutionError

_RANGE_OPS = ("==", "<", "<=", ">", ">=")


class Pipeline:
    """A compiled query level: plan nodes and the RETURN expression.

    Args:
        nodes: The plan nodes in execution order.
        result: The RETURN expression.
        distinct: Whether RETURN DISTINCT drops repeated values.
    """

    def __init__(self, nodes: Sequence[Node], result: Evaluator, distinct: bool):
        self.nodes = tuple(nodes)
        self.result = result
        self.distinct = distinct
        self._collects = [n for n in nodes if isinstance(n, Collect)]

    def run(self, frame: Frame, ctx: Context) -> Iterator[Any]:
        """Yield the query's results for the outer `frame`."""
        for collect in self._collects:
            ctx.memo[id(collect)] = frame
        rows: Iterator[Frame] = iter((frame,))
        for node in self.nodes:
            rows = node.run(rows, ctx)
        result = self.result
        if not self.distinct:
            for row in rows:
                yield result(row, ctx)
            return
        seen: set[tuple[Any, ...]] = set()
        try:
            for row in rows:
                value = result(row, ctx)
                key = sort_key(value)
                if key not in seen:
                    seen.add(key)
                    ctx.hold(1)
                    yield value
        finally:
            ctx.release(len(seen))


class Planner:
    """Build pipelines for a query and its subqueries."""

    def __init__(self) -> None:
        self.expressions = ExpressionCompiler(lambda q, s: self.plan(q, s).run)

    def plan(self, query: ast.QueryNode, scope: Scope) -> Pipeline:
        """Return the pipeline of `query` given the enclosing `scope`."""
        nodes: list[Node] = []
        statements = list(query.statements)
        pushable = shard_plan(statements, scope)
        scan: CollectionScan | None = None
        ranked: list[tuple[int, Shape, Evaluator]] = []
        for position, statement in enumerate(statements):
            following = statements[position + 1 :]
            node = self._statement(statement, following, scope, scan)
            if isinstance(node, CollectionScan) and isinstance(statement, ast.For):
                ranked.extend(self._ranking(position, statement, following, scope))
            if isinstance(statement, ast.For | ast.Traversal | ast.ShortestPath):
                scan = node if isinstance(node, CollectionScan) else None
            elif not isinstance(statement, ast.Filter):
                scan = None
            nodes.append(node)
        # Back to front, so the positions of earlier matches stay valid.
        for position, found, vector in reversed(ranked):
            end = position + found.length
            nodes[position:end] = [nearest_scan(found, vector, nodes[position:end])]
        if pushable is not None:
            leading = _pushed_down(nodes[: pushable.length], pushable)
            nodes = [leading, *nodes[pushable.length :]]
        result = self.expressions.compile(query.result.expr, scope)
        return Pipeline(nodes, result, query.result.distinct)

    def _statement(
        self,
        statement: ast.Statement,
        following: list[ast.Statement],
        scope: Scope,
        scan: CollectionScan | None,
    ) -> Node:
        compile_ = self.expressions.compile
        if isinstance(statement, ast.For):
            return self._for(statement, following, scope)
        if isinstance(statement, ast.Traversal):
            return self._traversal(statement, scope)
        if isinstance(statement, ast.ShortestPath):
            return self._shortest(statement, scope)
        if isinstance(statement, ast.Let):
            expr = compile_(statement.expr, scope)
            scope.declare(statement.name)
            return Let(expr)
        if isinstance(statement, ast.Filter):
            return Filter(compile_(statement.expr, scope))
        if isinstance(statement, ast.Sort):
            return self._sort(statement, following, scope, scan)
        if isinstance(statement, ast.Limit):
            constants = Scope()
            return Limit(
                compile_(statement.offset, constants),
                compile_(statement.count, constants),
            )
        assert isinstance(statement, ast.Collect)
        return self._collect(statement, scope)

    def _for(
        self, statement: ast.For, following: list[ast.Statement], scope: Scope
    ) -> Node:
        if len(statement.names) != 1:
            raise AqlExecutionError(
                "FOR over a collection or array declares one variable"
            )
        collection = _collection_name(statement.source, scope)
        if collection is None:
            source = statement.source
            node: Node = ForValues(
                self.expressions.lazy_range(source, scope)
                if isinstance(source, ast.Range)
                else self.expressions.compile(source, scope)
            )
            scope.declare(statement.names[0])
            return node
        if collection.startswith("@"):
            self.expressions.binds.add(collection)
        slot = scope.declare(statement.names[0])
        candidates = self._candidates(statement.names[0], slot, following, scope)
        hint = _sort_hint(statement.names[0], following)
        return CollectionScan(
            collection, candidates, hint, hint is not None and _limited(following)
        )

    def _ranking(
        self,
        position: int,
        loop: ast.For,
        following: list[ast.Statement],
        scope: Scope,
    ) -> list[tuple[int, Shape, Evaluator]]:
        found = shape(loop, following)
        slot = scope.lookup(loop.names[0])
        if found is None or slot is None or not _constant(found.vector, scope, slot):
            return []
        return [(position, found, self.expressions.compile(found.vector, scope))]

    def _candidates(
        self, name: str, slot: int, following: list[ast.Statement], scope: Scope
    ) -> list[Candidate]:
        found: list[Candidate] = []
        for statement in following:
            if not isinstance(statement, ast.Filter):
                break
            for term in _conjuncts(statement.expr):
                found.extend(self._candidate(term, name, slot, scope))
        return found

    def _candidate(
        self, term: ast.Expr, name: str, slot: int, scope: Scope
    ) -> list[Candidate]:
        if not isinstance(term, ast.Binary) or term.op not in _RANGE_OPS:
            return []
        for path_side, value_side, flip in (
            (term.left, term.right, False),
            (term.right, term.left, True),
        ):
            target = attribute_path(path_side)
            if (
                target is None
                or target[0] != name
                or not _constant(value_side, scope, slot)
            ):
                continue
            value = self.expressions.compile(value_side, scope)
            candidate = Candidate(target[1], term.op, value)
            return [candidate.flipped() if flip else candidate]
        return []

    def _sort(
        self,
        statement: ast.Sort,
        following: list[ast.Statement],
        scope: Scope,
        scan: CollectionScan | None,
    ) -> Node:
        keys = [
            (self.expressions.compile(i.expr, scope), i.descending)
            for i in statement.items
        ]
        top = None
        if following and isinstance(following[0], ast.Limit):
            constants = Scope()
            limit = following[0]
            compile_ = self.expressions.compile
            top = (compile_(limit.offset, constants), compile_(limit.count, constants))
        sort = Sort(keys, top)
        if scan is not None and scan.sort_hint is not None:
            return IndexOrderedSort(sort, scan)
        return sort

    def _collect(self, statement: ast.Collect, scope: Scope) -> Node:
        compile_ = self.expressions.compile
        groups = [compile_(expr, scope) for _, expr in statement.groups]
        aggregates = [self._aggregate(expr, scope) for _, expr in statement.aggregates]
        into = None
        if statement.into_expr is not None:
            into = compile_(statement.into_expr, scope)
        elif statement.into is not None:
            into = project(_kept(scope, statement.keep))
        names = [n for n, _ in statement.groups] + [n for n, _ in statement.aggregates]
        names += [n for n in (statement.into, statement.count_into) if n is not None]
        if not names:
            raise AqlExecutionError(
                "COLLECT needs a group, AGGREGATE, INTO or WITH COUNT"
            )
        collect = Collect(
            scope.base, groups, aggregates, into, statement.count_into is not None
        )
        collected = scope.collected(names)
        scope.names, scope.size = collected.names, collected.size
        return collect

    def _aggregate(self, expr: ast.Expr, scope: Scope) -> Aggregate:
        known = AGGREGATES | SUMMARIES
        if not isinstance(expr, ast.Call) or expr.name not in known:
            raise AqlExecutionError(
                "AGGREGATE expects a call of "
                + ", ".join(f"{name}()" for name in sorted(AGGREGATES))
            )
        if len(expr.args) > 1 or (
            not expr.args and expr.name not in ("COUNT", "LENGTH")
        ):
            raise AqlExecutionError(
                f"aggregate function '{expr.name}()' takes one argument"
            )
        argument = self.expressions.compile(expr.args[0], scope) if expr.args else None
        return Aggregate(expr.name, argument)

    def _edges(self, direction: str, spec: ast.EdgeSpec, scope: Scope) -> EdgeSource:
        graph = None
        if spec.graph is not None:
            graph = self.expressions.compile(spec.graph, scope)
        for name in spec.collections:
            if name.startswith("@@"):
                self.expressions.binds.add(name[1:])
        names = tuple(n[1:] if n.startswith("@@") else n for n in spec.collections)
        return EdgeSource(direction, names, graph)

    def _traversal(self, statement: ast.Traversal, scope: Scope) -> Node:
        compile_ = self.expressions.compile
        if len(statement.names) > 3:
            raise AqlExecutionError("a traversal declares at most 3 variables")
        depth = None
        if isinstance(statement.depth, ast.Range):
            depth = (
                compile_(statement.depth.low, scope),
                compile_(statement.depth.high, scope),
            )
        elif statement.depth is not None:
            single = compile_(statement.depth, scope)
            depth = (single, single)
        start = compile_(statement.start, scope)
        edges = self._edges(statement.direction, statement.edges, scope)
        options = compile_(statement.options, scope) if statement.options else None
        for name in statement.names:
            scope.declare(name)
        prune = compile_(statement.prune, scope) if statement.prune else None
        return Traversal(len(statement.names), depth, start, edges, prune, options)

    def _shortest(self, statement: ast.ShortestPath, scope: Scope) -> Node:
        compile_ = self.expressions.compile
        limit = 1 if statement.k_paths else 2
        if len(statement.names) > limit:
            kind = "K_SHORTEST_PATHS" if statement.k_paths else "SHORTEST_PATH"
            raise AqlExecutionError(f"{kind} declares at most {limit} variable(s)")
        start, target = (
            compile_(statement.start, scope),
            compile_(statement.target, scope),
        )
        edges = self._edges(statement.direction, statement.edges, scope)
        options = compile_(statement.options, scope) if statement.options else None
        for name in statement.names:
            scope.declare(name)
        if statement.k_paths:
            return KShortestPaths(start, target, edges, options)
        return ShortestPath(len(statement.names), start, target, edges, options)


def _pushed_down(nodes: list[Node], plan: ShardPlan) -> Node:
    scan, collect = nodes[0], nodes[-1]
    assert isinstance(scan, CollectionScan) and isinstance(collect, Collect)
    return PartialAggregate(plan, scan, nodes, collect)


def _collection_name(source: ast.Expr, scope: Scope) -> str | None:
    if isinstance(source, ast.Variable) and scope.lookup(source.name) is None:
        return source.name
    if isinstance(source, ast.BindParam) and source.name.startswith("@"):
        return source.name
    return None


def _conjuncts(expr: ast.Expr) -> Iterator[ast.Expr]:
    if isinstance(expr, ast.Logic) and expr.op == "AND":
        yield from _conjuncts(expr.left)
        yield from _conjuncts(expr.right)
    else:
        yield expr


def _constant(expr: ast.Expr, scope: Scope, slot: int) -> bool:
    """Return whether `expr` only reads variables declared before `slot`."""
    if isinstance(expr, ast.Subquery | ast.Current):
        return False
    if isinstance(expr, ast.Call) and expr.name in ("RAND", "DATE_NOW"):
        return False
    if isinstance(expr, ast.Variable):
        found = scope.lookup(expr.name)
        return found is not None and found < slot
    for field in dataclasses.fields(expr):  # type: ignore[arg-type]
        value = getattr(expr, field.name)
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            parts = item if isinstance(item, tuple) else (item,)
            for part in parts:
                if isinstance(part, ast.Expr) and not _constant(part, scope, slot):
                    return False
    return True


def _sort_hint(
    name: str, following: list[ast.Statement]
) -> tuple[tuple[str, ...], bool] | None:
    for statement in following:
        if isinstance(statement, ast.Filter):
            continue
        if isinstance(statement, ast.Sort) and len(statement.items) == 1:
            target = attribute_path(statement.items[0].expr)
            if target is not None and target[0] == name:
                return target[1], statement.items[0].descending
        return None
    return None


def _limited(following: list[ast.Statement]) -> bool:
    """Whether the first SORT after the FILTERs is directly followed by a LIMIT."""
    for position, statement in enumerate(following):
        if isinstance(statement, ast.Sort):
            after = following[position + 1 : position + 2]
            return bool(after) and isinstance(after[0], ast.Limit)
        if not isinstance(statement, ast.Filter):
            return False
    return False


def _kept(scope: Scope, keep: Sequence[str]) -> list[tuple[str, int]]:
    names = scope.user_names()
    if not keep:
        return names
    known = dict(names)
    for name in keep:
        if name not in known:
            raise AqlExecutionError(f"KEEP names unknown variable '{name}'")
    return [(name, known[name]) for name in keep]
