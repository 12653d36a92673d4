"""The effects core operations yield, and the values drivers send back."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeAlias, TypeVar

import httpx

from themis import _json
from themis.errors import ThemisError

__all__ = [
    "FAILURES",
    "LOAD_TOPOLOGY",
    "Call",
    "Effect",
    "LoadTopology",
    "Operation",
    "Outcome",
    "Parallel",
    "Reply",
]

T = TypeVar("T")

# The exceptions a sub-operation may fail with and still be reported per key.
FAILURES: tuple[type[Exception], ...] = (ThemisError, httpx.HTTPError)


@dataclass(frozen=True)
class Call:
    """One HTTP request, described without sending it.

    Exactly one of ``endpoint``, ``shard_id`` and ``route_key`` says where it goes;
    the driver resolves the last two against the current topology on every attempt,
    so a retry after a topology refresh reaches the new owner.

    Attributes:
        method: The HTTP method.
        path: The path (with query string, if any) appended to the endpoint.
        body: The JSON body, or ``None`` for no body.
        endpoint: A base URL to send to as is.
        shard_id: The shard to send to.
        route_key: A routing key whose owning shard receives the request.
        headers: Extra request headers.
        accept: Error statuses handed back as a :class:`Reply` instead of raised.
        retry: Whether the retry policy may retry this call at all.
        auth: Whether the client's credentials are attached (not for metadata stores).
    """

    method: str
    path: str
    body: Any = None
    endpoint: str | None = None
    shard_id: str | None = None
    route_key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    accept: frozenset[int] = frozenset()
    retry: bool = True
    auth: bool = True


@dataclass(frozen=True)
class Reply:
    """A response, reduced to what the core parses."""

    status: int
    content: bytes
    url: str

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def json(self) -> Any:
        """Decodes the body.

        Raises:
            ThemisError: The body is not JSON.
        """
        try:
            return _json.loads(self.content) if self.content else None
        except ValueError:
            raise ThemisError(
                f"expected a JSON body from {self.url}, got {self.content[:200]!r}"
            ) from None

    def object(self) -> dict[str, Any]:
        """Decodes a body that must be a JSON object.

        Raises:
            ThemisError: The body is not a JSON object.
        """
        payload = self.json()
        if not isinstance(payload, dict):
            raise ThemisError(
                f"expected a JSON object from {self.url}, got {payload!r:.200}"
            )
        return payload


@dataclass(frozen=True)
class Parallel:
    """Run sub-operations, concurrently where the driver can; answered with outcomes."""

    ops: list[Operation[Any]]


class LoadTopology(Enum):
    """Ask the driver for the current topology (loading or refreshing it if due)."""

    LOAD = "load"


LOAD_TOPOLOGY = LoadTopology.LOAD


@dataclass(frozen=True)
class Outcome:
    """What one sub-operation of a :class:`Parallel` produced."""

    value: Any = None
    error: Exception | None = None

    def unwrap(self) -> Any:
        """Returns the value, or raises the error."""
        if self.error is not None:
            raise self.error
        return self.value


Effect: TypeAlias = Call | Parallel | LoadTopology
Operation: TypeAlias = Generator[Effect, Any, T]
