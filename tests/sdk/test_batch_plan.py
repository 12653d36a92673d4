from __future__ import annotations

import pytest

from themis._core.batch_plan import BatchKeys, BatchLimits, BodySize, Chunk, plan
from themis._core.topology import Shard, Topology

TOPOLOGY = Topology(1, (Shard("s0", "http://a"), Shard("s1", "http://b")))


def test_plan_chunks_by_count_and_bytes() -> None:
    keys = BatchKeys.of("relational", "default", "t", [str(i) for i in range(7)])
    size = BodySize(9)
    by_count = plan(TOPOLOGY, keys, size, BatchLimits(max_keys=2))
    assert sorted(u for chunk in by_count for u in chunk.uuids) == list(keys.uuids)
    assert all(len(chunk.uuids) <= 2 for chunk in by_count)
    by_bytes = plan(TOPOLOGY, keys, size, BatchLimits(max_bytes=25))
    assert all(len(chunk.uuids) <= 2 for chunk in by_bytes)
    one = Topology(1, (Shard("s0", "http://a"),))
    huge = plan(one, BatchKeys("t", ("x",)), BodySize(98), BatchLimits(max_bytes=5))
    assert huge == [Chunk("s0", ("x",))]


def test_plan_counts_each_uuid_bytes_once_the_bound_is_over() -> None:
    one = Topology(1, (Shard("s0", "http://a"),))
    keys = BatchKeys("t", ("a" * 9, "b", "c" * 9))
    size = BodySize(0)
    assert size.bound(keys.uuids) == 27
    chunks = plan(one, keys, size, BatchLimits(max_bytes=12))
    assert chunks == [Chunk("s0", ("a" * 9, "b")), Chunk("s0", ("c" * 9,))]


def test_batch_keys_validate_and_drop_repeats() -> None:
    keys = BatchKeys.of("relational", "default", "users", ["b", "a", "b"])
    assert keys.uuids == ("b", "a")
    assert keys.wire_keys(keys.uuids) == [
        "relational.default.users:b",
        "relational.default.users:a",
    ]
    assert keys.route_prefix == "urn:themis:relational:default:users:"
    assert keys.uuid_of()("relational.default.users:a") == "a"
    with pytest.raises(ValueError, match="uuid must not contain ':'"):
        BatchKeys.of("relational", "default", "users", ["ok", "a:b"])
