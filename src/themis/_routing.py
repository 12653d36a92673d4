"""Which shard owns a key: hash slots placed by rendezvous hashing over shard ids.

A key falls into one of :data:`SLOTS` slots by the CRC-32 of its routing key (a single
C call, like Redis Cluster's slots). Each slot belongs to the shard with the highest
rendezvous score: an 8-byte blake2b hash of ``(shard id, slot)``, equal scores going to
the greater id. Scores depend on ids only, so a shard may change address without
moving data, and adding or removing a shard moves only the slots it gains or loses.
The slot table is computed once per set of shard ids.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable, Iterator, Sequence
from hashlib import blake2b
from typing import Any

from themis._keys import URN_PREFIX, urn_from_wire_key

__all__ = [
    "SLOTS",
    "Router",
    "owner",
    "owners_of",
    "route_prefix",
    "router",
    "routing_key",
    "score",
    "slot",
]

SLOTS = 16384
_SLOT_MASK = SLOTS - 1


def routing_key(key: str) -> str:
    """Returns the string a key is routed by.

    URNs route as themselves, SDK wire keys (``model.namespace.collection:uuid``) by
    their URN, and any other key (plain ``table:pk``) by the key itself.
    """
    if key.startswith(URN_PREFIX):
        return key
    return urn_from_wire_key(key) or key


def slot(key: str) -> int:
    """Returns the slot of a routing key."""
    return zlib.crc32(key.encode()) & _SLOT_MASK


def score(shard_id: str, key: str) -> int:
    """Returns the rendezvous score of ``key`` on ``shard_id``."""
    digest = _seed(shard_id).copy()
    digest.update(key.encode())
    return int.from_bytes(digest.digest(), "big")


@functools.lru_cache(maxsize=256)
def _seed(shard_id: str) -> Any:
    # Hashing the shard id once and copying the state halves the cost per key.
    return blake2b(shard_id.encode() + b"\x00", digest_size=8)


class Router:
    """Routes keys over one fixed set of shard ids.

    Args:
        shard_ids: The ids of every shard; order and repetition do not matter.

    Raises:
        ValueError: ``shard_ids`` is empty.
    """

    def __init__(self, shard_ids: Iterable[str]) -> None:
        self.shard_ids = tuple(sorted(set(shard_ids)))
        if not self.shard_ids:
            raise ValueError("cannot route keys: the topology has no shards")
        self._slots = _slot_table(self.shard_ids) if len(self.shard_ids) > 1 else None

    def owner(self, key: str) -> str:
        """Returns the id of the shard that owns the routing key ``key``."""
        if self._slots is None:
            return self.shard_ids[0]
        return self.shard_ids[self._slots[slot(key)]]

    def owners(self, keys: Sequence[str], prefix: str = "") -> list[str]:
        """Returns the id of the shard owning each routing key ``prefix + key``."""
        table = self._slots
        if table is None:
            return [self.shard_ids[0]] * len(keys)
        ids = self.shard_ids
        start = zlib.crc32(prefix.encode())
        crc32 = zlib.crc32
        return [ids[table[crc32(key.encode(), start) & _SLOT_MASK]] for key in keys]

    def group(self, keys: Sequence[str], prefix: str = "") -> list[list[str]]:
        """Returns, for each shard in :attr:`shard_ids` order, the keys it owns.

        Args:
            keys: The keys, each routed as ``prefix + key``.
            prefix: A part shared by every routing key, hashed only once.
        """
        table = self._slots
        if table is None:
            return [list(keys)]
        groups: list[list[str]] = [[] for _ in self.shard_ids]
        appends = [group.append for group in groups]
        # CRC-32 continues from the prefix's value: crc32(b, crc32(a)) == crc32(a + b).
        start = zlib.crc32(prefix.encode())
        crc32 = zlib.crc32
        for key in keys:
            appends[table[crc32(key.encode(), start) & _SLOT_MASK]](key)
        return groups


def route_prefix(table: str) -> str:
    """What precedes the pk in the routing key of a non-empty pk of ``table``.

    The URN's head for ``model.namespace.collection`` tables, the table and its
    colon for any other: ``route_prefix(table) + pk == routing_key(f"{table}:{pk}")``
    for every pk that is not empty.
    """
    head = urn_from_wire_key(table + ":_")
    return table + ":" if head is None else head[:-1]


def owners_of(router: Router, wire_keys: Sequence[str]) -> Iterator[tuple[int, str]]:
    """``(position, owning shard id)`` of each ``table:pk`` key, in order.

    Keys of one table are routed together, hashing their table's prefix once.
    """
    by_table: dict[str, list[int]] = {}
    for position, key in enumerate(wire_keys):
        table, _, pk = key.partition(":")
        if pk:
            by_table.setdefault(table, []).append(position)
        else:
            yield position, router.owner(routing_key(key))
    for table, positions in by_table.items():
        pks = [wire_keys[p].partition(":")[2] for p in positions]
        owners = router.owners(pks, route_prefix(table))
        yield from zip(positions, owners, strict=True)


def _slot_table(shard_ids: tuple[str, ...]) -> bytes | list[int]:
    """The index in ``shard_ids`` of each slot's owner."""
    seeds = [_seed(shard_id) for shard_id in shard_ids]
    owners = [_winner(seeds, str(number).encode()) for number in range(SLOTS)]
    return bytes(owners) if len(shard_ids) <= 256 else owners


def _winner(seeds: list[Any], data: bytes) -> int:
    # Ascending ids let a later id win an equal score by ``>=`` alone; big-endian
    # digests of one length order like the scores they encode.
    best, winner = b"", 0
    for index, seed in enumerate(seeds):
        digest = seed.copy()
        digest.update(data)
        value = digest.digest()
        if value >= best:
            best, winner = value, index
    return winner


def router(shard_ids: Iterable[str]) -> Router:
    """Returns the shared router for a set of shard ids.

    Raises:
        ValueError: ``shard_ids`` is empty.
    """
    return _router(tuple(sorted(set(shard_ids))))


@functools.lru_cache(maxsize=64)
def _router(shard_ids: tuple[str, ...]) -> Router:
    return Router(shard_ids)


def owner(shard_ids: Iterable[str], key: str) -> str:
    """Returns the id of the shard that owns ``key``.

    Args:
        shard_ids: The ids of every shard; order does not matter.
        key: A routing key, usually from :func:`routing_key`.

    Raises:
        ValueError: ``shard_ids`` is empty.
    """
    ids = tuple(shard_ids)
    if not ids:
        raise ValueError(f"cannot route {key!r}: the topology has no shards")
    return router(ids).owner(key)
