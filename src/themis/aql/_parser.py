"""Text to AST: the lark grammar, the tree transformer and error translation."""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Callable
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from themis.aql import _ast as ast
from themis.aql.errors import AqlError, AqlExecutionError, AqlParseError

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0"}
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_PAIR_RE = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_EXPRESSION_START = {"NUMBER", "STRING", "NAME", "BIND"}
_MAX_EXPECTED = 6
MAX_DEPTH = 128
"""How deeply a query's syntax tree may nest; each array, call or operator nests."""
_MAX_LITERAL_DIGITS = 4000
_FRIENDLY = {
    "NAME": "identifier",
    "QUOTED_NAME": "identifier",
    "NUMBER": "number",
    "STRING": "string",
    "BIND": "bind parameter",
    "BIND_COLL": "collection bind parameter",
    "EQ_OP": "comparison operator",
    "REL_OP": "comparison operator",
    "ADD_OP": "operator",
    "MUL_OP": "operator",
    "ARRAY_CMP": "array comparison operator",
    "NOT_IN": "NOT IN",
    "NOT_LIKE": "NOT LIKE",
    "EXPAND": "[*]",
    "FLATTEN": "[**]",
    "$END": "end of query",
}


@functools.cache
def _lark() -> Lark:
    grammar = resources.files("themis.aql").joinpath("grammar.lark").read_text()
    return Lark(grammar, parser="lalr", lexer="contextual", maybe_placeholders=True)


def parse(text: str) -> ast.QueryNode:
    """Parse AQL `text` into a query AST.

    Raises:
        AqlParseError: The text is not valid AQL.
    """
    try:
        tree = _lark().parse(text)
        _check_depth(tree)
        result: ast.QueryNode = _Builder().transform(tree)
    except UnexpectedInput as error:
        raise _translate(error, text) from error
    except VisitError as error:
        if isinstance(error.orig_exc, AqlError):
            raise error.orig_exc from error
        raise AqlExecutionError(
            f"could not build the query: {error.orig_exc}"
        ) from error
    return result


def _check_depth(tree: Tree[Token]) -> None:
    """Refuse trees deeper than MAX_DEPTH before anything walks them recursively."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            where = [
                (token.line or 1, token.column or 1)
                for token in node.scan_values(lambda v: isinstance(v, Token))
            ]
            line, column = min(where, default=(1, 1))
            raise AqlParseError(
                f"expressions nest more than {MAX_DEPTH} levels deep; "
                f"expected at most {MAX_DEPTH}",
                line,
                column,
            )
        stack.extend(
            (child, depth + 1) for child in node.children if isinstance(child, Tree)
        )


def _translate(error: UnexpectedInput, text: str) -> AqlParseError:
    if isinstance(error, UnexpectedToken) and error.token.type != "$END":
        token = error.token
        what = f"unexpected {str(token.value)!r}{_expected(error.expected)}"
        return AqlParseError(what, token.line or 1, token.column or 1)
    if isinstance(error, UnexpectedCharacters):
        position = error.pos_in_stream or 0
        char = text[position] if position < len(text) else ""
        what = f"unexpected character {char!r}{_expected(error.allowed or set())}"
        return AqlParseError(what, error.line, error.column)
    expected: set[str] = set()
    if isinstance(error, UnexpectedToken | UnexpectedEOF):
        expected = set(error.expected)
    line = text.count("\n") + 1
    column = len(text) - (text.rfind("\n") + 1) + 1
    return AqlParseError(f"unexpected end of query{_expected(expected)}", line, column)


def _expected(names: set[str] | frozenset[str]) -> str:
    if not names:
        return ""
    terminals = {t.name: t.pattern for t in _lark().terminals}
    labels: set[str] = set()
    if names & _EXPRESSION_START:
        labels.add("expression")
        names = {n for n in names if n not in _EXPRESSION_START}
        names -= {"QUOTED_NAME", "TRUE", "FALSE", "NULL", "BIND_COLL", "BANG"}
        names -= {"NOT", "ADD_OP", "LPAR", "LSQB", "LBRACE"}
    for name in names:
        pattern = terminals.get(name)
        if name in _FRIENDLY:
            labels.add(_FRIENDLY[name])
        elif pattern is not None and pattern.type == "str":
            labels.add(pattern.value.upper())
        else:
            labels.add(name)
    if len(labels) > _MAX_EXPECTED:
        return ""
    return ", expected " + " or ".join(sorted(labels))


def _unescape(token: Token) -> str:
    """Return the text of a quoted string or name token, escapes resolved.

    A ``\\uXXXX`` escape of a UTF-16 high surrogate must be followed by one of a low
    surrogate; the pair becomes one character. A surrogate without its partner has no
    UTF-8 form and is refused.
    """

    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if len(code) == 5 and code[0] == "u":
            return chr(int(code[1:], 16))
        return _ESCAPES.get(code, code)

    text = _ESCAPE_RE.sub(replace, token[1:-1])
    if _SURROGATE_RE.search(text) is None:
        return text
    joined = _PAIR_RE.sub(_join_pair, text)
    lone = _SURROGATE_RE.search(joined)
    if lone is not None:
        raise AqlParseError(
            f"string holds the lone UTF-16 surrogate \\u{ord(lone.group()):04x}; "
            "expected a high surrogate (\\ud800-\\udbff) followed by a low one "
            "(\\udc00-\\udfff), or any other character",
            token.line or 1,
            token.column or 1,
        )
    return joined


def _join_pair(match: re.Match[str]) -> str:
    high, low = (ord(c) for c in match.group())
    return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))


def _shorten(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]}"


def _push(node: ast.Expr, wrap: Callable[[ast.Expr], ast.Expr]) -> ast.Expr:
    """Apply a postfix operator inside an expansion, to each element."""
    if isinstance(node, ast.Expand):
        return ast.Expand(node.base, node.flatten, _push(node.inner, wrap))
    return wrap(node)


@v_args(inline=True)
class _Builder(Transformer[Token, Any]):
    """Turn lark's parse tree into `themis.aql._ast` nodes."""

    def start(self, query: ast.QueryNode) -> ast.QueryNode:
        return query

    def query(self, *items: Any) -> ast.QueryNode:
        *statements, result = items
        return ast.QueryNode(tuple(statements), result)

    def return_stmt(self, distinct: Token | None, expr: ast.Expr) -> ast.Return:
        return ast.Return(expr, distinct is not None)

    def name(self, token: Token) -> str:
        if token.type == "QUOTED_NAME":
            return _unescape(token)
        return str(token)

    def for_stmt(self, *items: Any) -> ast.Statement:
        *names, source = items
        statement: ast.Statement = source.kind(tuple(names), *source.args)
        return statement

    def for_expr(self, source: ast.Expr, options: Any) -> _Pending:
        return _Pending(ast.For, (source, options))

    def traversal(self, *items: Any) -> _Pending:
        depth, direction, start, edges, prune, options = items
        args = (depth, direction, start, edges, prune, options)
        return _Pending(ast.Traversal, args)

    def shortest(self, direction: str, _kw: Token, *rest: Any) -> _Pending:
        start, target, edges, options = rest
        args = (direction, start, target, edges, options, False)
        return _Pending(ast.ShortestPath, args)

    def k_shortest(self, direction: str, _kw: Token, *rest: Any) -> _Pending:
        start, target, edges, options = rest
        args = (direction, start, target, edges, options, True)
        return _Pending(ast.ShortestPath, args)

    def direction(self, token: Token) -> str:
        return str(token).upper()

    def graph_edges(self, graph: ast.Expr) -> ast.EdgeSpec:
        return ast.EdgeSpec(graph)

    def coll_edges(self, *names: str) -> ast.EdgeSpec:
        return ast.EdgeSpec(None, tuple(names))

    def edge_coll(self, item: str | Token) -> str:
        if isinstance(item, Token):
            return str(item)
        return item

    def prune(self, expr: ast.Expr) -> ast.Expr:
        return expr

    def options(self, obj: ast.ObjectLit) -> ast.ObjectLit:
        return obj

    def let_stmt(self, name: str, expr: ast.Expr) -> ast.Let:
        return ast.Let(name, expr)

    def filter_stmt(self, expr: ast.Expr) -> ast.Filter:
        return ast.Filter(expr)

    def sort_stmt(self, *items: ast.SortItem) -> ast.Sort:
        return ast.Sort(items)

    def sort_item(self, expr: ast.Expr, direction: Token | None) -> ast.SortItem:
        return ast.SortItem(expr, direction is not None and direction.type == "DESC")

    def limit_stmt(self, first: ast.Expr, second: ast.Expr | None) -> ast.Limit:
        if second is None:
            return ast.Limit(ast.Literal(0), first)
        return ast.Limit(first, second)

    def collect_stmt(self, keys: Any, aggregates: Any, tail: Any, _opt: Any) -> Any:
        tail = tail or {}
        return ast.Collect(tuple(keys or ()), tuple(aggregates or ()), **tail)

    def collect_keys(self, *pairs: tuple[str, ast.Expr]) -> list[Any]:
        return list(pairs)

    aggregate = collect_keys

    def into(self, name: str, expr: ast.Expr | None, keep: Any) -> dict[str, Any]:
        return {"into": name, "into_expr": expr, "keep": tuple(keep or ())}

    def with_count(self, name: str) -> dict[str, Any]:
        return {"count_into": name}

    def keep(self, *names: str) -> list[str]:
        return list(names)

    def assignment(self, name: str, expr: ast.Expr) -> tuple[str, ast.Expr]:
        return (name, expr)

    def ternary(self, cond: ast.Expr, then: ast.Expr, other: ast.Expr) -> ast.Expr:
        return ast.Ternary(cond, then, other)

    def elvis(self, cond: ast.Expr, other: ast.Expr) -> ast.Expr:
        return ast.Ternary(cond, None, other)

    def logic(self, left: ast.Expr, op: Token, right: ast.Expr) -> ast.Expr:
        kind = "AND" if op.type.startswith("AND") else "OR"
        return ast.Logic(kind, left, right)

    def binary(self, left: ast.Expr, op: Token, right: ast.Expr) -> ast.Expr:
        return ast.Binary(" ".join(str(op).upper().split()), left, right)

    def array_compare(self, left: ast.Expr, op: Token, right: ast.Expr) -> ast.Expr:
        text = str(op).upper()
        quantifier = next(q for q in ("ANY", "ALL", "NONE") if text.startswith(q))
        operator = " ".join(text[len(quantifier) :].split())
        return ast.ArrayCompare(quantifier, operator, left, right)

    def range(self, low: ast.Expr, high: ast.Expr) -> ast.Expr:
        return ast.Range(low, high)

    def unary(self, op: Token, operand: ast.Expr) -> ast.Expr:
        symbol = {"!": "NOT", "NOT": "NOT"}.get(str(op).upper(), str(op))
        return ast.Unary(symbol, operand)

    def attribute(self, obj: ast.Expr, name: str) -> ast.Expr:
        return _push(obj, lambda node: ast.Attribute(node, name))

    def index(self, obj: ast.Expr, index: ast.Expr) -> ast.Expr:
        return _push(obj, lambda node: ast.Index(node, index))

    def expand(self, obj: ast.Expr, token: Token) -> ast.Expr:
        flatten = str(token).count("*") - 1
        if flatten and isinstance(obj, ast.Expand):
            # [**] flattens everything the expansions before it produced.
            return ast.Expand(obj, flatten, ast.Current())
        return _push(obj, lambda node: ast.Expand(node, flatten, ast.Current()))

    def number(self, token: Token) -> ast.Expr:
        text = str(token)
        if any(c in text for c in ".eE"):
            value = float(text)
            if not math.isfinite(value):
                raise AqlParseError(
                    f"number {_shorten(text)} is out of range; expected a finite "
                    f"number of magnitude at most {sys.float_info.max:g}",
                    token.line or 1,
                    token.column or 1,
                )
            return ast.Literal(value)
        if len(text) > _MAX_LITERAL_DIGITS:
            raise AqlParseError(
                f"integer of {len(text)} digits; expected at most "
                f"{_MAX_LITERAL_DIGITS} digits",
                token.line or 1,
                token.column or 1,
            )
        return ast.Literal(int(text))

    def string(self, token: Token) -> ast.Expr:
        return ast.Literal(_unescape(token))

    def constant(self, token: Token) -> ast.Expr:
        return ast.Literal({"TRUE": True, "FALSE": False}.get(str(token).upper()))

    def bind(self, token: Token) -> ast.Expr:
        return ast.BindParam(str(token)[1:])

    def variable(self, name: str) -> ast.Expr:
        return ast.Variable(name)

    def call(self, name: str, *args: ast.Expr | None) -> ast.Expr:
        return ast.Call(name.upper(), tuple(a for a in args if a is not None))

    def subquery(self, query: ast.QueryNode) -> ast.Expr:
        return ast.Subquery(query)

    def array(self, *items: ast.Expr | None) -> ast.Expr:
        return ast.ArrayLit(tuple(i for i in items if i is not None))

    def object(self, *items: tuple[str | ast.Expr, ast.Expr] | None) -> ast.ObjectLit:
        return ast.ObjectLit(tuple(i for i in items if i is not None))

    def pair(self, key: str, value: ast.Expr) -> tuple[str | ast.Expr, ast.Expr]:
        return (key, value)

    def string_pair(
        self, key: Token, value: ast.Expr
    ) -> tuple[str | ast.Expr, ast.Expr]:
        return (_unescape(key), value)

    def bind_pair(self, key: Token, value: ast.Expr) -> tuple[str | ast.Expr, ast.Expr]:
        return (ast.BindParam(str(key)[1:]), value)

    def computed_pair(
        self, key: ast.Expr, value: ast.Expr
    ) -> tuple[str | ast.Expr, ast.Expr]:
        return (key, value)

    def shorthand(self, name: str) -> tuple[str | ast.Expr, ast.Expr]:
        return (name, ast.Variable(name))


class _Pending:
    """A FOR source waiting for the loop variable names of its FOR statement."""

    def __init__(self, kind: type[ast.Statement], args: tuple[Any, ...]) -> None:
        self.kind = kind
        self.args = args
