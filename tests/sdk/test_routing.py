from __future__ import annotations

from collections import Counter

import pytest

from themis._routing import owner, routing_key


def test_routing_key_prefers_urn() -> None:
    assert routing_key("relational.default.users:1") == (
        "urn:themis:relational:default:users:1"
    )
    assert routing_key("users:1") == "users:1"
    assert routing_key("urn:themis:a:b:c:d") == "urn:themis:a:b:c:d"


def test_owner_is_deterministic_and_order_independent() -> None:
    keys = [f"urn:themis:relational:default:users:{i}" for i in range(200)]
    first = [owner(["a", "b", "c"], key) for key in keys]
    assert first == [owner(["c", "a", "b"], key) for key in keys]


def test_owner_spreads_over_three_shards() -> None:
    counts = Counter(owner(["s0", "s1", "s2"], f"k{i}") for i in range(3000))
    assert set(counts) == {"s0", "s1", "s2"}
    assert min(counts.values()) > 800


def test_adding_a_shard_moves_only_keys_it_takes() -> None:
    keys = [f"k{i}" for i in range(1000)]
    before = {key: owner(["s0", "s1", "s2"], key) for key in keys}
    after = {key: owner(["s0", "s1", "s2", "s3"], key) for key in keys}
    moved = [key for key in keys if before[key] != after[key]]
    assert moved and all(after[key] == "s3" for key in moved)


def test_owner_without_shards_raises() -> None:
    with pytest.raises(ValueError, match="the topology has no shards"):
        owner([], "k")
