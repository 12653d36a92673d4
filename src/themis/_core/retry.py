"""The retry policy: what may be retried, and how long to wait."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from random import random as _uniform

from themis._core.effects import Call

__all__ = ["IDEMPOTENT_POSTS", "RetryPolicy"]

# POST routes that read, or write the same state however often they run.
IDEMPOTENT_POSTS = frozenset(
    {
        "/query/aql",
        "/batch/get",
        "/batch/put",
        "/batch/delete",
        "/vector/search",
        "/graph/traverse",
        "/graph/shortest_path",
        "/graph/neighbors",
        # Upserts under a key the SDK chose (edge _key, vector pk).
        "/graph/edge",
        "/vector/batch_insert",
    }
)
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# Server errors that no retry mends: the server lacks the feature, refuses the HTTP
# version or has no room to store the write; the answer would be the same.
_PERMANENT_5XX = frozenset({501, 505, 506, 507, 508, 510, 511})


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a request and how long to wait first.

    Idempotent requests are retried on 429, 5xx (except those that say retrying
    cannot help, such as 501 and 507 Insufficient Storage) and connection errors,
    up to ``max_retries`` times, with exponential backoff and full jitter. A numeric
    ``Retry-After`` header replaces the backoff, capped at ``max_retry_after``.

    Attributes:
        max_retries: Retries after the first attempt.
        base_delay: The backoff of the first retry before jitter, in seconds.
        max_delay: The largest backoff before jitter, in seconds.
        max_retry_after: The largest ``Retry-After`` honoured, in seconds.
        jitter: Returns a float in [0, 1); injectable for tests.
    """

    max_retries: int = 3
    base_delay: float = 0.05
    max_delay: float = 2.0
    max_retry_after: float = 30.0
    jitter: Callable[[], float] = field(default=_uniform, compare=False)

    def idempotent(self, call: Call) -> bool:
        """Whether sending ``call`` twice has the effect of sending it once."""
        if call.method == "POST":
            return call.path.partition("?")[0] in IDEMPOTENT_POSTS
        return call.method in _IDEMPOTENT_METHODS

    def may_retry(self, call: Call, attempt: int) -> bool:
        """Whether attempt number ``attempt`` (0 = first) may be followed by another."""
        return call.retry and attempt < self.max_retries and self.idempotent(call)

    def retry_status(self, status: int) -> bool:
        """Whether a response status is worth retrying."""
        return status == 429 or (status >= 500 and status not in _PERMANENT_5XX)

    def backoff(self, attempt: int) -> float:
        """Returns the jittered delay before retry number ``attempt + 1``."""
        return self.jitter() * min(self.max_delay, self.base_delay * 2.0**attempt)

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """Returns the delay before the next retry, honouring ``Retry-After``."""
        seconds = _seconds(retry_after)
        if seconds is None:
            return self.backoff(attempt)
        return min(seconds, self.max_retry_after)


def _seconds(header: str | None) -> float | None:
    # Only the delta-seconds form; an HTTP date falls back to the backoff.
    if header is None:
        return None
    try:
        value = float(header.strip())
    except ValueError:
        return None
    return value if value >= 0 else None
