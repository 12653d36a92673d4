"""The storage layer: group commit, atomic batches, hooks and snapshots."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import lmdb
import pytest

from themis.server.errors import BadRequest, StorageError, StorageFull
from themis.server.storage import Storage
from themis.server.storage_ops import Compute, Delete, Op, Put, ReadView


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


def _fill(store: Storage) -> tuple[list[bytes], StorageFull]:
    """Writes 2 KB values until the store is full; returns the keys that fit."""
    written: list[bytes] = []
    for number in range(10_000):
        key = f"fill{number:05}".encode()
        try:
            store.write([Put("docs", key, b"x" * 2000)])
        except StorageFull as exc:
            return written, exc
        written.append(key)
    raise AssertionError("a 1 MiB store took 20 MB")


def test_a_full_store_refuses_writes_with_507_and_keeps_its_data(
    tmp_path: Path,
) -> None:
    store = Storage(tmp_path / "db", map_size=1 << 20, durable=False)
    written, full = _fill(store)
    assert full.status_code == 507
    assert "map of 1048576 bytes" in full.message
    assert "--map-size" in full.message
    assert all(store.get("docs", key) == b"x" * 2000 for key in written)
    # Deleting makes room again.
    for key in written[:40]:
        store.write([Delete("docs", key)])
    store.write([Put("docs", b"after", b"y" * 2000)])
    store.close()
    reopened = Storage(tmp_path / "db", map_size=1 << 20, durable=False)
    assert reopened.get("docs", b"after") == b"y" * 2000
    assert reopened.get("docs", written[-1]) == b"x" * 2000
    assert reopened.get("docs", written[0]) is None
    reopened.close()


def test_a_batch_that_does_not_fit_fails_alone(tmp_path: Path) -> None:
    store = Storage(tmp_path / "db", map_size=1 << 20, durable=False)
    written, _ = _fill(store)
    for key in written[:20]:
        store.write([Delete("docs", key)])
    # The writer is held inside a batch until the others are queued, so that
    # they are committed as one group.
    gate = threading.Event()

    def hold(view: ReadView) -> list[Put | Delete]:
        gate.wait(10)
        return [Put("docs", b"gate", b"")]

    first = store.submit([Compute(hold)])
    big = store.submit(
        [Put("docs", f"big{n:04}".encode(), b"z" * 2000) for n in range(400)]
    )
    smalls = [store.submit([Put("docs", f"small{n}".encode(), b"s")]) for n in range(3)]
    gate.set()
    assert first.result(10) == [False]
    assert [small.result(10) for small in smalls] == [[False]] * 3
    with pytest.raises(StorageFull):
        big.result(10)
    assert store.get("docs", b"small2") == b"s"
    with store.snapshot() as view:
        assert list(view.scan("docs", b"big")) == []
    store.close()


class _FullOnce:
    """Wraps an LMDB environment: the next group commit fails as if it were full."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.failures = 1

    def begin(self, **options: Any) -> Any:
        txn = self.env.begin(**options)
        if options.get("parent") is not None or not options.get("write"):
            return txn
        if not self.failures:
            return txn
        self.failures -= 1
        return _FailingCommit(txn)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)


class _FailingCommit:
    def __init__(self, txn: Any) -> None:
        self.txn = txn

    def __enter__(self) -> Any:
        return self.txn

    def __exit__(self, *exc: object) -> None:
        self.txn.abort()
        raise lmdb.MapFullError("mdb_txn_commit: MDB_MAP_FULL")


def test_a_group_too_large_together_is_committed_batch_by_batch(
    storage: Storage,
) -> None:
    entered, gate = threading.Event(), threading.Event()

    def hold(view: ReadView) -> list[Put | Delete]:
        entered.set()
        gate.wait(10)
        return []

    first = storage.submit([Compute(hold)])
    # Inside the first batch, the writer has already taken its group: the others
    # queue up as the next one.
    assert entered.wait(10)
    queued = [storage.submit([Put("docs", f"k{n}".encode(), b"v")]) for n in range(3)]
    storage._env = _FullOnce(storage._env)  # type: ignore[assignment]
    commits = storage.commits
    gate.set()
    first.result(10)
    assert [future.result(10) for future in queued] == [[False]] * 3
    # The gate's own commit, then one per batch after the group failed as a whole.
    assert storage.commits == commits + 4
    assert [storage.get("docs", f"k{n}".encode()) for n in range(3)] == [b"v"] * 3
