"""The storage layer: group commit, atomic batches, hooks and snapshots."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from themis.server.errors import BadRequest, StorageError
from themis.server.storage import Storage
from themis.server.storage_ops import Delete, Op, Put, ReadView


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    store = Storage(tmp_path / "db", map_size=1 << 26)
    yield store
    store.close()


def test_write_reports_which_keys_existed(storage: Storage) -> None:
    assert storage.write([Put("docs", b"a", b"1")]) == [False]
    assert storage.write([Put("docs", b"a", b"2"), Delete("docs", b"b")]) == [
        True,
        False,
    ]
    assert storage.get("docs", b"a") == b"2"


def test_scan_reads_a_prefix_in_key_order(storage: Storage) -> None:
    storage.write([Put("docs", k, b"") for k in (b"u\x1fb", b"u\x1fa", b"v\x1fa")])
    with storage.snapshot() as view:
        assert [k for k, _ in view.scan("docs", b"u\x1f")] == [b"u\x1fa", b"u\x1fb"]
        assert [k for k, _ in view.scan("docs", b"u\x1f", start=b"u\x1fb")] == [
            b"u\x1fb"
        ]


def test_snapshot_does_not_see_later_writes(storage: Storage) -> None:
    storage.write([Put("docs", b"k", b"old")])
    with storage.snapshot() as view:
        storage.write([Put("docs", b"k", b"new")])
        assert view.get("docs", b"k") == b"old"
    assert storage.get("docs", b"k") == b"new"


def test_concurrent_writers_share_commits(storage: Storage) -> None:
    def write(i: int) -> list[bool]:
        return storage.write([Put("docs", f"{i:05}".encode(), b"x")])

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(write, range(2000)))

    assert results == [[False]] * 2000
    assert storage.stats()["entries"]["docs"] == 2000
    assert storage.stats()["batches_committed"] == 2000
    assert storage.stats()["group_commits"] < 2000


class RejectOdd:
    """A hook that refuses values ending in an odd digit and mirrors the rest."""

    def __call__(self, view: ReadView, op: Op, old: bytes | None) -> Sequence[Op]:
        if isinstance(op, Put) and op.space == "docs":
            if int(op.value[-1:]) % 2:
                raise BadRequest(f"odd value {op.value!r}")
            return (Put("meta", op.key, op.value),)
        return ()


def test_a_rejected_batch_leaves_its_neighbours_committed(storage: Storage) -> None:
    storage.add_hook(RejectOdd())
    good = storage.submit([Put("docs", b"a", b"2")])
    bad = storage.submit([Put("docs", b"b", b"4"), Put("docs", b"c", b"3")])

    assert good.result() == [False]
    with pytest.raises(BadRequest, match="odd value"):
        bad.result()
    assert storage.get("docs", b"b") is None
    assert storage.get("meta", b"a") == b"2"
    assert storage.get("meta", b"b") is None


def test_stopped_writes_refuse_new_ones_and_keep_reads(storage: Storage) -> None:
    storage.write([Put("docs", b"k", b"v")])
    version = storage.version()

    storage.stop_writes()

    with pytest.raises(StorageError) as caught:
        storage.write([Put("docs", b"k2", b"v")])
    assert caught.value.message == (
        "the storage takes no more writes: it is shutting down"
    )
    assert storage.get("docs", b"k") == b"v"
    assert storage.version() == version


def test_the_version_moves_with_every_write(storage: Storage) -> None:
    before = storage.version()
    storage.write([Put("docs", b"a", b"1")])
    storage.write([Delete("docs", b"a")])
    assert storage.version() == before + 2
