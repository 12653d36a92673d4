"""Compiled queries: the entry point of the AQL engine."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

from themis.aql._context import Context
from themis.aql._nearest import NearestScan
from themis.aql._parser import parse
from themis.aql._planner import Pipeline, Planner
from themis.aql._pushdown import PartialAggregate
from themis.aql._scope import Scope
from themis.aql.budget import Budget, Deadline
from themis.aql.errors import (
    AqlBindError,
    AqlError,
    AqlExecutionError,
    AqlParseError,
    SourceFailure,
)
from themis.aql.source import DataSource

__all__ = ["Query", "compile_query"]


class Query:
    """A parsed and planned AQL query, reusable across executions and threads.

    Attributes:
        text: The query text.
        bind_parameters: Declared bind parameter names; ``@@coll`` appears as
            ``"@coll"``, the key its value is given under.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        planner = Planner()
        try:
            self._pipeline: Pipeline = planner.plan(parse(text), Scope())
        except RecursionError as error:
            raise AqlParseError("the query nests too deeply to plan", 1, 1) from error
        self.bind_parameters = frozenset(planner.expressions.binds)

    def execute(
        self,
        source: DataSource,
        bind_vars: Mapping[str, Any] | None = None,
        *,
        budget: Budget | None = None,
        deadline: Deadline | None = None,
    ) -> Iterator[Any]:
        """Run the query lazily; rows are computed as the iterator is consumed.

        Args:
            source: The data to query.
            bind_vars: Values of the bind parameters.
            budget: Time and memory limits; the default is `Budget()`.
            deadline: When to stop, for a caller that renews it (cursors); by
                default ``budget.max_seconds`` from now.

        Returns:
            An iterator over the RETURN values.

        Raises:
            AqlBindError: Bind parameters are missing, unused or invalid (raised
                here, before any row is produced).
            AqlExecutionError: Raised while iterating, when the query fails.
            AqlLimitError: Raised while iterating, when the budget is exceeded.
        """
        binds = self._check(bind_vars or {})
        ctx = Context(source, binds, budget or Budget(), deadline)
        return _guarded(self._pipeline.run((), ctx))

    def explain(
        self, source: DataSource, bind_vars: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Describe the plan for `source`, including which indexes are used."""
        ctx = Context(source, self._check(bind_vars or {}), Budget())
        steps = [
            part
            for node in self._pipeline.nodes
            for part in (
                node.parts(ctx)
                if isinstance(node, PartialAggregate | NearestScan)
                else [node]
            )
        ]
        nodes = [step.describe(ctx) for step in steps]
        nodes.append({"type": "Return", "distinct": self._pipeline.distinct})
        indexes = [n["index"] for n in nodes if "index" in n]
        return {
            "query": self.text,
            "bindParameters": sorted(self.bind_parameters),
            "nodes": nodes,
            "indexes": indexes,
        }

    def _check(self, bind_vars: Mapping[str, Any]) -> Mapping[str, Any]:
        for name in sorted(self.bind_parameters):
            if name not in bind_vars:
                raise AqlBindError(
                    f"no value specified for declared bind parameter '{name}'"
                )
        for name in sorted(bind_vars):
            if name not in self.bind_parameters:
                raise AqlBindError(
                    f"bind parameter '{name}' was not declared in the query"
                )
            value = bind_vars[name]
            if name.startswith("@") and (not isinstance(value, str) or not value):
                raise AqlBindError(
                    f"bind parameter '{name}' must be a collection name string, "
                    f"got {value!r}"
                )
        return bind_vars

    def __repr__(self) -> str:
        return f"Query({self.text!r})"


def _guarded(rows: Iterator[Any]) -> Iterator[Any]:
    """Turn stray Python errors into AqlExecutionError so none reaches HTTP as 500."""
    try:
        yield from rows
    except (AqlError, SourceFailure):
        raise
    except RecursionError as error:
        raise AqlExecutionError("query nesting is too deep") from error
    except Exception as error:
        raise AqlExecutionError(f"query failed: {error!r}") from error


@functools.lru_cache(maxsize=512)
def compile_query(text: str) -> Query:
    """Parse and plan `text`, reusing the result for the same text.

    Raises:
        AqlParseError: The text is not valid AQL.
        AqlExecutionError: The query names an unknown function or variable.
    """
    return Query(text)
