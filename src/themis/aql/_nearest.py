"""Similarity ranking served by a vector index when the source has one.

``FOR d IN coll [FILTER ...] SORT COSINE_SIMILARITY(d.v, q) DESC LIMIT o, n`` (or
``L2_DISTANCE(d.v, q) ASC``) asks a source that offers ``nearest()`` for the
documents nearest ``q``, applies the FILTERs to them, widens the request while too
few survive, and then sorts and limits the survivors with the ordinary SORT and
LIMIT nodes, so the rows are those the ordinary plan gives. Sources without the
capability, or without an index on that field and metric, run the ordinary nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from themis.aql import _ast as ast
from themis.aql._compiler import attribute_path
from themis.aql._context import Context, Evaluator, Frame
from themis.aql._nodes import Filter, Limit, Node, Sort, limit_values
from themis.aql._scan import CollectionScan
from themis.aql.errors import AqlExecutionError

_METRICS = {("COSINE_SIMILARITY", True): "cosine", ("L2_DISTANCE", False): "l2"}
FIRST_WIDTH = 2
"""The first request asks for this many times the rows the LIMIT keeps."""

WIDEN = 4
"""How much the request grows when too few documents survive the FILTERs."""

MARGIN = 1e-4
"""Relative score gap that float32 index distances cannot invert."""


@dataclass(frozen=True, slots=True)
class Shape:
    """A FOR, its FILTERs, a similarity SORT and a LIMIT, found in the AST.

    Attributes:
        field: The single attribute of the loop variable holding the vector.
        metric: ``"cosine"`` or ``"l2"``, as the vector index names it.
        vector: The other argument of the similarity function.
        length: How many statements, the FOR through the LIMIT, it covers.
    """

    field: str
    metric: str
    vector: ast.Expr
    length: int


def shape(loop: ast.For, following: Sequence[ast.Statement]) -> Shape | None:
    """Return the ranking shape starting at `loop`, or None.

    Args:
        loop: A FOR over a collection.
        following: The statements after it on the same query level.
    """
    if loop.options is not None or len(loop.names) != 1:
        return None
    position = 0
    while position < len(following) and isinstance(following[position], ast.Filter):
        position += 1
    tail = following[position : position + 2]
    if len(tail) != 2 or not isinstance(tail[1], ast.Limit):
        return None
    sort = tail[0]
    if not isinstance(sort, ast.Sort) or len(sort.items) != 1:
        return None
    found = _ranked(loop.names[0], sort.items[0])
    if found is None:
        return None
    return Shape(*found, length=position + 3)


def _ranked(name: str, item: ast.SortItem) -> tuple[str, str, ast.Expr] | None:
    call = item.expr
    if not isinstance(call, ast.Call) or len(call.args) != 2:
        return None
    metric = _METRICS.get((call.name, item.descending))
    if metric is None:
        return None
    first, second = call.args
    for field_side, other in ((first, second), (second, first)):
        target = attribute_path(field_side)
        if target is not None and target[0] == name and len(target[1]) == 1:
            return target[1][0], metric, other
    return None


Nearest = Callable[..., list[dict[str, Any]] | None]


@dataclass(slots=True)
class NearestScan:
    """A FOR, FILTERs, similarity SORT and LIMIT served by a vector index if any.

    Attributes:
        field: The vector attribute.
        metric: The vector index metric the SORT corresponds to.
        vector: Evaluates the query vector; it reads only earlier variables.
        fallback: The ordinary nodes: the scan, the filters, the SORT, the LIMIT.
    """

    field: str
    metric: str
    vector: Evaluator
    fallback: Sequence[Node]

    @property
    def scan(self) -> CollectionScan:
        """The ordinary FOR over the collection."""
        scan = self.fallback[0]
        assert isinstance(scan, CollectionScan)
        return scan

    @property
    def sort(self) -> Sort:
        """The ordinary SORT, with the LIMIT fused in."""
        sort = self.fallback[-2]
        assert isinstance(sort, Sort)
        return sort

    @property
    def limit(self) -> Limit:
        """The ordinary LIMIT."""
        limit = self.fallback[-1]
        assert isinstance(limit, Limit)
        return limit

    def run(self, rows: Iterator[Frame], ctx: Context) -> Iterator[Frame]:
        nearest = getattr(ctx.source, "nearest", None)
        for frame in rows:
            found = None if nearest is None else self._indexed(nearest, frame, ctx)
            yield from self._ordinary(frame, ctx) if found is None else found

    def _ordinary(self, frame: Frame, ctx: Context) -> Iterator[Frame]:
        stream: Iterator[Frame] = iter((frame,))
        for node in self.fallback:
            stream = node.run(stream, ctx)
        return stream

    def _indexed(
        self, nearest: Nearest, frame: Frame, ctx: Context
    ) -> list[Frame] | None:
        """The rows through the index, or None where only the ordinary plan is exact.

        None also leaves to the ordinary plan the errors it reports (an unknown
        collection, a bad LIMIT) and the documents the index skips (no vector).
        """
        name = self.scan.name(ctx)
        if not ctx.source.has_collection(name):
            return None
        offset, count = limit_values(self.limit.offset, self.limit.count, ctx)
        wanted = offset + count
        vector = self.vector(frame, ctx)
        width = wanted * FIRST_WIDTH
        # Never hold more than the ordinary plan could be asked to.
        while wanted and ctx.held + width + wanted <= ctx.budget.max_rows:
            docs = nearest(name, (self.field,), vector, self.metric, width)
            if docs is None:
                return None
            ctx.hold(len(docs))
            try:
                best = self._best(
                    docs, frame, wanted, exhausted=len(docs) < width, ctx=ctx
                )
            finally:
                ctx.release(len(docs))
            if best is not None or len(docs) < width:
                return best
            width *= WIDEN
        return None

    def _best(
        self,
        docs: list[dict[str, Any]],
        frame: Frame,
        wanted: int,
        *,
        exhausted: bool,
        ctx: Context,
    ) -> list[Frame] | None:
        """The LIMIT's rows when the fetched documents settle them, else None."""
        fetched = [(*frame, doc) for doc in docs]
        stream: Iterator[Frame] = iter(fetched)
        for node in self.fallback[1:-2]:
            stream = node.run(stream, ctx)
        # The ordinary scan reads in _key order and the SORT is stable.
        survivors = sorted(stream, key=lambda row: str(row[-1]["_key"]))
        ranked = list(self.sort.run(iter(survivors), ctx))
        if len(ranked) < wanted:
            return None
        if not exhausted and not self._clear(ranked[-1], fetched[-1], ctx):
            return None
        return list(self.limit.run(iter(ranked), ctx))

    def _clear(self, inside: Frame, outside: Frame, ctx: Context) -> bool:
        """Whether the last kept row ranks clearly above the farthest fetched one.

        Documents the index did not return are no nearer than the farthest it did,
        up to float32 rounding; a clear gap means none of them belongs in the LIMIT,
        ties included.
        """
        expr, descending = self.sort.keys[0]
        try:
            kept, edge = expr(inside, ctx), expr(outside, ctx)
        except AqlExecutionError:
            return False
        if not all(type(score) in (int, float) for score in (kept, edge)):
            return False
        gap = kept - edge if descending else edge - kept
        return bool(gap > MARGIN * (1 + abs(edge)))

    def parts(self, ctx: Context) -> Sequence[Node]:
        """Return the nodes that describe this step for explain on `ctx.source`."""
        serves = getattr(ctx.source, "serves_nearest", None)
        name = self.scan.name(ctx)
        if serves is None or not serves(name, (self.field,), self.metric):
            return self.fallback
        return (self,)

    def describe(self, ctx: Context) -> dict[str, Any]:
        offset, count = limit_values(self.limit.offset, self.limit.count, ctx)
        return {
            "type": "VectorNearest",
            "collection": self.scan.name(ctx),
            "index": {"field": self.field, "use": "nearest", "metric": self.metric},
            "filters": len(self.fallback) - 3,
            "offset": offset,
            "count": count,
        }


def nearest_scan(found: Shape, vector: Evaluator, nodes: Sequence[Node]) -> Node:
    """Wrap the ordinary nodes of `found` (the FOR through the LIMIT)."""
    assert all(isinstance(node, Filter) for node in nodes[1:-2])
    return NearestScan(found.field, found.metric, vector, tuple(nodes))
