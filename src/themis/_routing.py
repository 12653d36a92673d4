"""Which shard owns a key: rendezvous hashing over shard ids.

Each shard scores a key with an 8-byte blake2b hash of ``(shard id, key)``; the highest
score owns it. Scores depend on ids only, so a shard may change address without moving
data, and adding or removing a shard moves only the keys it gains or loses.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from hashlib import blake2b
from typing import Any

from themis._keys import URN_PREFIX, urn_from_wire_key

__all__ = ["owner", "routing_key", "score"]


def routing_key(key: str) -> str:
    """Returns the string a key is routed by.

    URNs route as themselves, SDK wire keys (``model.namespace.collection:uuid``) by
    their URN, and any other key (plain ``table:pk``) by the key itself.
    """
    if key.startswith(URN_PREFIX):
        return key
    return urn_from_wire_key(key) or key


def score(shard_id: str, key: str) -> int:
    """Returns the rendezvous score of ``key`` on ``shard_id``."""
    digest = _seed(shard_id).copy()
    digest.update(key.encode())
    return int.from_bytes(digest.digest(), "big")


@functools.lru_cache(maxsize=256)
def _seed(shard_id: str) -> Any:
    # Hashing the shard id once and copying the state halves the cost per key.
    return blake2b(shard_id.encode() + b"\x00", digest_size=8)


def owner(shard_ids: Iterable[str], key: str) -> str:
    """Returns the id of the shard that owns ``key``.

    Args:
        shard_ids: The ids of every shard; order does not matter.
        key: A routing key, usually from :func:`routing_key`.

    Raises:
        ValueError: ``shard_ids`` is empty.
    """
    best = max(
        shard_ids, key=lambda shard_id: (score(shard_id, key), shard_id), default=None
    )
    if best is None:
        raise ValueError(f"cannot route {key!r}: the topology has no shards")
    return best
