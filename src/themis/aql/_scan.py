"""Collection loops, choosing between a full scan and an index scan."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from themis.aql._context import Context, Evaluator, Frame
from themis.aql._nodes import Sort
from themis.aql._values import sort_key
from themis.aql.errors import AqlBindError, AqlExecutionError
from themis.aql.source import Bound, IndexInfo

_FLIP = {"==": "==", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

BROAD = 1000
"""Equality matches from which reading the SORT's index in order is preferred."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A FILTER conjunct ``loopvar.path <op> value`` an index could serve.

    Attributes:
        path: The attribute path on the loop variable.
        op: One of ``== < <= > >=`` with the path on the left.
        value: Evaluates the other side; it only reads earlier variables.
    """

    path: tuple[str, ...]
    op: str
    value: Evaluator

    def flipped(self) -> Candidate:
        """Return the same condition with the operands swapped."""
        return Candidate(self.path, _FLIP[self.op], self.value)


@dataclass(frozen=True, slots=True)
class Choice:
    """How one execution reads the collection.

    Attributes:
        field: The indexed path, or None for a full scan.
        kind: ``"equality"``, ``"range"`` or ``"order"`` (index read for SORT).
        conditions: The candidates turned into bounds.
        ordered: Whether rows come in the order the following SORT needs.
    """

    field: tuple[str, ...] | None = None
    kind: str = "scan"
    conditions: tuple[Candidate, ...] = ()
    ordered: bool = False


@dataclass(slots=True)
class CollectionScan:
    """``FOR x IN collection``, reading through an index when one helps.

    Attributes:
        collection: The collection name, or ``"@name"`` for ``@@name``.
        candidates: FILTER conjuncts directly after the FOR.
        sort_hint: (path, descending) of a single-key SORT after those FILTERs.
        limited: Whether a LIMIT directly follows that SORT.
    """

    collection: str
    candidates: Sequence[Candidate] = ()
    sort_hint: tuple[tuple[str, ...], bool] | None = None
    limited: bool = False

    def name(self, ctx: Context) -> str:
        """Return the collection name, resolving a collection bind parameter."""
        if not self.collection.startswith("@"):
            return self.collection
        value = ctx.binds[self.collection]
        if not isinstance(value, str) or not value:
            raise AqlBindError(
                f"bind parameter '{self.collection}' must be a collection name "
                f"string, got {value!r}"
            )
        return value

    def choose(self, ctx: Context, frame: Frame | None = None) -> Choice:
        """Return (and remember for this execution) how to read the collection.

        Args:
            ctx: The execution.
            frame: The first row the scan runs for; with it, an equality index that
                matches many documents may give way to reading the SORT's index in
                order, which a LIMIT stops early.
        """
        known: Choice | None = ctx.memo.get(id(self))
        if known is None:
            indexes = ctx.source.indexes(self.name(ctx))
            if getattr(ctx.source, "pushes_down_filters", False):
                indexes = _pushdown_paths(self.candidates, self.sort_hint)
            known = _choose(indexes, self.candidates, self.sort_hint)
            if frame is not None and self._prefer_order(known, indexes, frame, ctx):
                assert self.sort_hint is not None
                known = Choice(self.sort_hint[0], "order", (), True)
            ctx.memo[id(self)] = known
        return known

    def _prefer_order(
        self,
        choice: Choice,
        indexes: Sequence[IndexInfo],
        frame: Frame,
        ctx: Context,
    ) -> bool:
        estimate = getattr(ctx.source, "estimate", None)
        if estimate is None or not self.limited or self.sort_hint is None:
            return False
        if choice.kind != "equality" or choice.ordered or choice.field is None:
            return False
        ranged = {i.field for i in indexes if i.kind == "range"}
        if self.sort_hint[0] not in ranged:
            return False
        value = choice.conditions[0].value(frame, ctx)
        bound = Bound(value)
        count: int = estimate(self.name(ctx), choice.field, bound, bound, BROAD)
        return count >= BROAD

    def run(self, rows: Iterator[Frame], ctx: Context) -> Iterator[Frame]:
        name = self.name(ctx)
        if not ctx.source.has_collection(name):
            raise AqlExecutionError(f"collection or view not found: '{name}'")
        tick = ctx.tick
        for frame in rows:
            choice = self.choose(ctx, frame)
            for doc in self._documents(name, choice, frame, ctx):
                tick()
                yield (*frame, doc)

    def _documents(
        self, name: str, choice: Choice, frame: Frame, ctx: Context
    ) -> Iterator[dict[str, Any]]:
        # Sources that can skip documents by their text offer the *_containing
        # forms of scan and index_scan (see SnapshotSource).
        needles = self._needles(choice, frame, ctx)
        docs: Iterator[dict[str, Any]]
        if choice.field is None:
            scan_containing = getattr(ctx.source, "scan_containing", None)
            if needles and scan_containing is not None:
                docs = scan_containing(name, needles)
            else:
                docs = ctx.source.scan(name)
            return docs
        low, high = _bounds(choice.conditions, frame, ctx)
        descending = choice.ordered and self.sort_hint is not None and self.sort_hint[1]
        containing = getattr(ctx.source, "index_scan_containing", None)
        if needles and containing is not None:
            docs = containing(name, choice.field, low, high, needles, descending)
        else:
            docs = ctx.source.index_scan(name, choice.field, low, high, descending)
        if choice.kind == "range" and not choice.ordered:
            # Restore _key order so results never depend on which index exists.
            return iter(sorted(docs, key=lambda doc: str(doc["_key"])))
        return docs

    def _needles(self, choice: Choice, frame: Frame, ctx: Context) -> list[bytes]:
        """Bytes the text of every document the FILTERs keep must contain.

        They come from equality conditions the index read does not already meet;
        a source may skip, undecoded, any document whose text lacks one.
        """
        values = [
            c.value(frame, ctx)
            for c in self.candidates
            if c.op == "=="
            and c.path[0] not in _SYSTEM_ATTRIBUTES
            and c not in choice.conditions
        ]
        return [n for n in map(json_needle, values) if n is not None]

    def describe(self, ctx: Context) -> dict[str, Any]:
        choice = self.choose(ctx)
        info: dict[str, Any] = {"type": "EnumerateCollection", "collection": None}
        info["collection"] = self.name(ctx)
        if choice.field is not None:
            info["type"] = "IndexScan"
            info["index"] = {"field": ".".join(choice.field), "use": choice.kind}
            info["ordered"] = choice.ordered
        return info


# Added by the source when a document is read, so they never occur in stored text.
_SYSTEM_ATTRIBUTES = frozenset({"_key", "_id", "_urn"})


def json_needle(value: Any) -> bytes | None:
    """Bytes that the JSON text of any document holding ``value`` must contain.

    Only strings and booleans qualify: their JSON text is unique unless escapes are
    used, and a source that skips documents by needle must decode every document
    whose text holds a backslash. Numbers have many spellings (5, 5.0, 5e0).
    """
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if not isinstance(value, str):
        return None
    needle = orjson.dumps(value)
    return None if b"\\" in needle else needle


def _pushdown_paths(
    candidates: Sequence[Candidate],
    sort_hint: tuple[tuple[str, ...], bool] | None,
) -> list[IndexInfo]:
    # A source that evaluates range conditions where the data lives (a cluster's
    # shards) serves every filtered or sorted path as if it had a range index.
    paths = {candidate.path for candidate in candidates}
    if sort_hint is not None:
        paths.add(sort_hint[0])
    return [IndexInfo(path, "range") for path in sorted(paths)]


def _choose(
    indexes: Sequence[IndexInfo],
    candidates: Sequence[Candidate],
    sort_hint: tuple[tuple[str, ...], bool] | None,
) -> Choice:
    by_field = {index.field: index for index in indexes}
    sort_path = sort_hint[0] if sort_hint else None
    for candidate in candidates:
        if candidate.op == "==" and candidate.path in by_field:
            ordered = candidate.path == sort_path
            return Choice(candidate.path, "equality", (candidate,), ordered)
    ranged = [
        c
        for c in candidates
        if c.op != "==" and getattr(by_field.get(c.path), "kind", None) == "range"
    ]
    if ranged:
        path = ranged[0].path
        if sort_path is not None and any(c.path == sort_path for c in ranged):
            path = sort_path
        conditions = tuple(c for c in ranged if c.path == path)
        return Choice(path, "range", conditions, path == sort_path)
    if (
        sort_path is not None
        and getattr(by_field.get(sort_path), "kind", "") == "range"
    ):
        return Choice(sort_path, "order", (), True)
    return Choice()


def _bounds(
    conditions: Sequence[Candidate], frame: Frame, ctx: Context
) -> tuple[Bound | None, Bound | None]:
    low: Bound | None = None
    high: Bound | None = None
    for condition in conditions:
        value = condition.value(frame, ctx)
        if condition.op == "==":
            return Bound(value), Bound(value)
        bound = Bound(value, inclusive=condition.op in ("<=", ">="))
        if condition.op in (">", ">="):
            low = bound if low is None else _tighter(low, bound, lower=True)
        else:
            high = bound if high is None else _tighter(high, bound, lower=False)
    return low, high


def _tighter(current: Bound, new: Bound, *, lower: bool) -> Bound:
    a, b = sort_key(current.value), sort_key(new.value)
    if a == b:
        return current if not current.inclusive else new
    return (new if b > a else current) if lower else (new if b < a else current)


@dataclass(slots=True)
class IndexOrderedSort:
    """A SORT that passes rows through when the scan already reads them in order.

    A descending index read returns ties in reverse ``_key`` order; runs of equal
    keys are flipped back so results match the stable in-memory sort.
    """

    sort: Sort
    scan: CollectionScan

    def run(self, rows: Iterator[Frame], ctx: Context) -> Iterator[Frame]:
        # The scan settles how it reads when its first row arrives, so the first
        # row is pulled before asking whether rows come in order.
        rows = iter(rows)
        first = next(rows, None)
        if first is None:
            return
        rows = itertools.chain((first,), rows)
        if not self.scan.choose(ctx).ordered:
            yield from self.sort.run(rows, ctx)
            return
        expr, descending = self.sort.keys[0]
        yield from _flip_ties(rows, expr, ctx) if descending else rows

    def describe(self, ctx: Context) -> dict[str, Any]:
        if self.scan.choose(ctx).ordered:
            return {"type": "Sort", "strategy": "index order"}
        return self.sort.describe(ctx)


def _flip_ties(rows: Iterator[Frame], expr: Evaluator, ctx: Context) -> Iterator[Frame]:
    run: list[Frame] = []
    run_key: Any = None
    for frame in rows:
        key = sort_key(expr(frame, ctx))
        if run and key != run_key:
            yield from reversed(run)
            run = []
        run.append(frame)
        run_key = key
    yield from reversed(run)
