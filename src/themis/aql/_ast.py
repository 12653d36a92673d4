"""The abstract syntax tree produced by the parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Expr:
    """Base class of expression nodes."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    value: Any


@dataclass(frozen=True, slots=True)
class BindParam(Expr):
    """``@name`` (a value) or ``@@name`` (a collection), `name` keeps one ``@``."""

    name: str


@dataclass(frozen=True, slots=True)
class Variable(Expr):
    name: str


@dataclass(frozen=True, slots=True)
class Current(Expr):
    """The element under an ``[*]`` expansion."""


@dataclass(frozen=True, slots=True)
class Attribute(Expr):
    obj: Expr
    name: str


@dataclass(frozen=True, slots=True)
class Index(Expr):
    obj: Expr
    index: Expr


@dataclass(frozen=True, slots=True)
class Expand(Expr):
    """``base[*]inner``: `inner` is evaluated once per element as `Current`."""

    base: Expr
    flatten: int
    inner: Expr


@dataclass(frozen=True, slots=True)
class ArrayLit(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class ObjectLit(Expr):
    items: tuple[tuple[str | Expr, Expr], ...]


@dataclass(frozen=True, slots=True)
class Unary(Expr):
    op: str
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Logic(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class ArrayCompare(Expr):
    quantifier: str
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Ternary(Expr):
    """``cond ? then : other``; `then` is None for ``cond ?: other``."""

    cond: Expr
    then: Expr | None
    other: Expr


@dataclass(frozen=True, slots=True)
class Range(Expr):
    low: Expr
    high: Expr


@dataclass(frozen=True, slots=True)
class Call(Expr):
    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Subquery(Expr):
    query: QueryNode


class Statement:
    """Base class of statement nodes."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class For(Statement):
    names: tuple[str, ...]
    source: Expr
    options: ObjectLit | None = None


@dataclass(frozen=True, slots=True)
class Traversal(Statement):
    names: tuple[str, ...]
    depth: Expr | None
    direction: str
    start: Expr
    edges: EdgeSpec
    prune: Expr | None
    options: ObjectLit | None


@dataclass(frozen=True, slots=True)
class ShortestPath(Statement):
    names: tuple[str, ...]
    direction: str
    start: Expr
    target: Expr
    edges: EdgeSpec
    options: ObjectLit | None
    k_paths: bool


@dataclass(frozen=True, slots=True)
class EdgeSpec:
    """Either a graph name expression or a list of edge collections."""

    graph: Expr | None
    collections: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Let(Statement):
    name: str
    expr: Expr


@dataclass(frozen=True, slots=True)
class Filter(Statement):
    expr: Expr


@dataclass(frozen=True, slots=True)
class SortItem:
    expr: Expr
    descending: bool


@dataclass(frozen=True, slots=True)
class Sort(Statement):
    items: tuple[SortItem, ...]


@dataclass(frozen=True, slots=True)
class Limit(Statement):
    offset: Expr
    count: Expr


@dataclass(frozen=True, slots=True)
class Collect(Statement):
    groups: tuple[tuple[str, Expr], ...]
    aggregates: tuple[tuple[str, Expr], ...]
    into: str | None = None
    into_expr: Expr | None = None
    keep: tuple[str, ...] = ()
    count_into: str | None = None


@dataclass(frozen=True, slots=True)
class Return(Statement):
    expr: Expr
    distinct: bool


@dataclass(frozen=True, slots=True)
class QueryNode:
    statements: tuple[Statement, ...]
    result: Return
    binds: frozenset[str] = field(default_factory=frozenset)
