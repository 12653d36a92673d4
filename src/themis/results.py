"""Result types returned by the client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["BatchGetResult", "BatchWriteResult", "QueryResult"]


@dataclass
class QueryResult:
    """One page (or the whole result) of a query.

    ``items`` and ``entities`` hold the same rows so that cursor code and legacy code
    both work.

    Attributes:
        items: The rows of this page.
        has_more: Whether another page can be fetched with ``next_cursor``.
        next_cursor: The opaque token for the next page, ``None`` on the last page.
        entities: The rows again, under their legacy name.
        count: The number of rows the server reported (summed over shards).
        raw: The server's response; for several shards ``{"shards": {id: body}}``.
        missing_shards: With ``allow_partial``, the shards that did not answer and
            whose rows are therefore absent.
    """

    items: list[Any] = field(default_factory=list)
    has_more: bool = False
    next_cursor: str | None = None
    entities: list[Any] = field(default_factory=list)
    count: int = 0
    raw: dict[str, Any] = field(default_factory=dict)
    missing_shards: list[str] = field(default_factory=list)


@dataclass
class BatchGetResult:
    """Per-key outcome of :meth:`ThemisClient.batch_get`.

    Attributes:
        found: Documents by uuid, in request order.
        missing: Uuids that do not exist.
        errors: Uuids whose read failed, with the reason.
    """

    found: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class BatchWriteResult:
    """Per-key outcome of :meth:`ThemisClient.batch_put` and ``batch_delete``.

    Attributes:
        succeeded: Uuids written or deleted.
        failed: Uuids whose write failed, with the reason.
        missing: For deletes, uuids that did not exist.
    """

    succeeded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
