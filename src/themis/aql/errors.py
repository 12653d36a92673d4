"""The exception tree raised by the AQL engine."""

from __future__ import annotations

__all__ = [
    "AqlBindError",
    "AqlError",
    "AqlExecutionError",
    "AqlLimitError",
    "AqlParseError",
    "SourceFailure",
]


class AqlError(Exception):
    """Root of every error raised by `themis.aql`; the server maps it to HTTP 400."""


class AqlParseError(AqlError):
    """The query text is not valid AQL.

    Attributes:
        line: 1-based line of the offending token.
        column: 1-based column of the offending token.
    """

    def __init__(self, what: str, line: int, column: int) -> None:
        super().__init__(f"AQL parse error: {what} at line {line}, column {column}")
        self.line = line
        self.column = column


class AqlBindError(AqlError):
    """Bind parameters do not match the ones the query declares."""


class AqlExecutionError(AqlError):
    """The query is well formed but cannot run (unknown names, type errors...)."""


class AqlLimitError(AqlError):
    """The query exceeded its time or memory budget."""


class SourceFailure(Exception):
    """Base for errors a `DataSource` raises on purpose (a shard that does not answer).

    The engine passes them through unchanged, so the caller can report them as what
    they are instead of as a query error.
    """
