"""Reservations of prepared transactions in the storage writer: Hold and Release."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from themis.server.errors import BadRequest, Conflict
from themis.server.storage import Storage
from themis.server.storage_ops import Hold, Op, Put, ReadView, Release


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    store = Storage(tmp_path / "db", map_size=1 << 26)

    def mirror(view: ReadView, op: Op, old: bytes | None) -> Sequence[Op]:
        # A derived entry per document, as an index keeps one.
        if op.space != "docs" or not isinstance(op, Put):
            return ()
        if op.value == b"refuse":
            raise Conflict("the hook refuses this document")
        return (Put("index", b"i:" + op.key, b""),)

    store.add_hook(mirror)
    yield store
    store.close()


def test_a_hold_reserves_written_and_derived_keys_for_its_holder(
    storage: Storage,
) -> None:
    storage.write([Hold(7, [Put("docs", b"a", b"held")])])
    # Tried only: nothing was written.
    assert storage.get("docs", b"a") is None
    assert storage.locks.held(7) == [("docs", b"a"), ("index", b"i:a")]
    with pytest.raises(Conflict, match="reserved by prepared transaction 7"):
        storage.write([Put("docs", b"a", b"other")])
    with pytest.raises(Conflict, match="reserved by prepared transaction 7"):
        storage.write([Put("index", b"i:a", b"")])
    storage.write([Put("docs", b"b", b"free")])
    with storage.snapshot() as view:
        assert view.reserved("index", b"i:") == []  # readers do not see them

    # The holder releases and writes in one batch.
    storage.write([Release(7), Put("docs", b"a", b"held")])
    assert storage.get("docs", b"a") == b"held"
    assert storage.locks.held(7) == []
    storage.write([Put("docs", b"a", b"other")])


def test_a_hold_whose_trial_fails_reserves_nothing(storage: Storage) -> None:
    with pytest.raises(Conflict, match="the hook refuses"):
        storage.write(
            [Hold(8, [Put("docs", b"a", b"ok"), Put("docs", b"b", b"refuse")])]
        )
    assert not storage.locks
    assert storage.get("docs", b"a") is None


def test_two_holders_cannot_reserve_one_key(storage: Storage) -> None:
    storage.write([Hold(1, [Put("docs", b"a", b"1")])])
    with pytest.raises(Conflict, match="reserved by prepared transaction 1"):
        storage.write([Hold(2, [Put("docs", b"a", b"2")])])
    assert storage.locks.held(2) == []


def test_a_failed_batch_gives_back_the_keys_it_released(storage: Storage) -> None:
    storage.write([Hold(3, [Put("docs", b"a", b"1")])])
    with pytest.raises(BadRequest):
        storage.write([Release(3), Put("docs", b"x" * 600, b"too long a key")])
    assert storage.locks.held(3) == [("docs", b"a"), ("index", b"i:a")]
    with pytest.raises(Conflict):
        storage.write([Put("docs", b"a", b"other")])


def test_a_writers_view_lists_reservations_under_a_prefix(storage: Storage) -> None:
    storage.write([Hold(4, [Put("docs", b"a", b"1"), Put("docs", b"b", b"2")])])
    seen: list[list[tuple[bytes, int]]] = []

    def look(view: ReadView, op: Op, old: bytes | None) -> Sequence[Op]:
        if op.space == "meta":
            seen.append(view.reserved("index", b"i:"))
        return ()

    storage.add_hook(look)
    storage.write([Put("meta", b"probe", b"")])
    assert len(seen) == 1
    assert sorted(seen[0]) == [(b"i:a", 4), (b"i:b", 4)]
