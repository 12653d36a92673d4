"""AQL: parse and execute ArangoDB-style queries against a `DataSource`.

Example:
    >>> source = MemorySource({"users": [{"_key": "a", "age": 30}]})
    >>> list(compile_query("FOR u IN users RETURN u.age").execute(source))
    [30]
"""

from __future__ import annotations

from themis.aql.budget import Budget, Deadline
from themis.aql.errors import (
    AqlBindError,
    AqlError,
    AqlExecutionError,
    AqlLimitError,
    AqlParseError,
    SourceFailure,
)
from themis.aql.memory import MemorySource
from themis.aql.query import Query, compile_query
from themis.aql.source import Bound, DataSource, GraphDefinition, IndexInfo

__all__ = [
    "AqlBindError",
    "AqlError",
    "AqlExecutionError",
    "AqlLimitError",
    "AqlParseError",
    "Bound",
    "Budget",
    "DataSource",
    "Deadline",
    "GraphDefinition",
    "IndexInfo",
    "MemorySource",
    "Query",
    "SourceFailure",
    "compile_query",
]
