"""Batch planning: one table's uuids grouped by owning shard and cut into chunks.

A batch covers one table, so keys travel as uuids and become wire keys only in the
request body; the per-key work stays a few string operations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from themis import _keys, _routing
from themis._core.topology import Topology

__all__ = ["BatchKeys", "BatchLimits", "BodySize", "Chunk", "Outcomes", "plan"]


@dataclass(frozen=True)
class BatchLimits:
    """The most keys and body bytes one batch request may carry."""

    max_keys: int = 5000
    max_bytes: int = 4 * 1024 * 1024


@dataclass(frozen=True)
class BatchKeys:
    """The entities of one batch: distinct uuids of one table.

    Attributes:
        table: ``model.namespace.collection``, or any other table name.
        uuids: The uuids in request order, without repeats.
    """

    table: str
    uuids: tuple[str, ...]
    _order: dict[str, None] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(
        cls, model: str, namespace: str, collection: str, uuids: Iterable[str]
    ) -> BatchKeys:
        """Validates every part and drops repeated uuids."""
        table = _keys.table(model, namespace, collection)
        order = dict.fromkeys(uuids)
        distinct = tuple(order)
        _keys.check_uuids(distinct)
        return cls(table, distinct, order)

    def seed(self) -> dict[str, Any]:
        """A new dict holding every uuid in request order, each mapped to ``None``."""
        # Copying the dict that dropped repeats is several times cheaper than
        # hashing every uuid again.
        return (
            dict(self._order) if self._order is not None else dict.fromkeys(self.uuids)
        )

    @property
    def route_prefix(self) -> str:
        """What precedes a uuid in its routing key: the URN's head, or the table."""
        return _routing.route_prefix(self.table)

    def wire(self, uuid: str) -> str:
        """The wire key of one uuid."""
        return f"{self.table}:{uuid}"

    def wire_keys(self, uuids: Iterable[str]) -> list[str]:
        """The wire keys of many uuids."""
        prefix = self.table + ":"
        return [prefix + uuid for uuid in uuids]

    def uuid_of(self) -> Callable[[str], str]:
        """Returns the function from a wire key of this table back to its uuid."""
        start = len(self.table) + 1
        return lambda key: key[start:]


@dataclass(frozen=True)
class Chunk:
    """The uuids of one batch request to one shard."""

    shard_id: str
    uuids: tuple[str, ...]


@dataclass(frozen=True)
class BodySize:
    """How many request body bytes each uuid of a batch takes.

    Attributes:
        overhead: Bytes every key takes besides its uuid (table, quotes, fields).
    """

    overhead: int

    def of(self, uuid: str) -> int:
        """The bytes one uuid takes."""
        return len(uuid) + self.overhead

    def bound(self, uuids: Sequence[str]) -> int:
        """An upper bound of the bytes all ``uuids`` take together."""
        return len(uuids) * (max(map(len, uuids)) + self.overhead)


@dataclass
class Outcomes:
    """What happened to the keys of a batch, by uuid."""

    found: dict[str, Any] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    #: Whether every key of the chunk is known to have exactly one outcome.
    checked: bool = False

    def merge(self, other: Outcomes) -> None:
        """Adds another chunk's outcomes."""
        self.found.update(other.found)
        self.done.update(other.done)
        self.missing.update(other.missing)
        self.failed.update(other.failed)

    def fail(self, uuids: Iterable[str], reason: str) -> None:
        """Marks every uuid as failed for the same reason."""
        self.failed.update(dict.fromkeys(uuids, reason))


def plan(
    topology: Topology, keys: BatchKeys, size: BodySize, limits: BatchLimits
) -> list[Chunk]:
    """Groups uuids by owning shard and cuts each group into chunks.

    Args:
        topology: The topology to route by.
        keys: The batch's keys.
        size: The body bytes each uuid takes.
        limits: The per-request limits.
    """
    router = topology.router
    groups = router.group(keys.uuids, keys.route_prefix)
    chunks: list[Chunk] = []
    for shard_id, group in zip(router.shard_ids, groups, strict=True):
        chunks.extend(_cut(shard_id, group, size, limits))
    return chunks


def _cut(
    shard_id: str, uuids: list[str], size: BodySize, limits: BatchLimits
) -> list[Chunk]:
    if not uuids:
        return []
    if len(uuids) <= limits.max_keys and size.bound(uuids) <= limits.max_bytes:
        # The usual case: one request holds the whole group.
        return [Chunk(shard_id, tuple(uuids))]
    chunks: list[Chunk] = []
    current: list[str] = []
    used = 0
    for uuid in uuids:
        taken = size.of(uuid)
        if current and (
            len(current) >= limits.max_keys or used + taken > limits.max_bytes
        ):
            chunks.append(Chunk(shard_id, tuple(current)))
            current, used = [], 0
        current.append(uuid)
        used += taken
    if current:
        chunks.append(Chunk(shard_id, tuple(current)))
    return chunks
