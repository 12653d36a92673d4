"""Embedded storage: LMDB behind a narrow interface, with group commit.

LMDB gives ACID write transactions and MVCC snapshot reads in one memory-mapped file.
Every commit is fsynced, so a write acknowledged to a client survives ``kill -9``. To
keep durable writes fast, one writer thread gathers the batches that arrive while the
previous commit is syncing and applies them in a single transaction (group commit);
each batch still succeeds or fails on its own through a nested transaction.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import lmdb

from themis.server.errors import BadRequest, ServerError, StorageError, StorageFull
from themis.server.key_locks import KeyLocks, take_back
from themis.server.storage_ops import (
    Change,
    CommitListener,
    Compute,
    Hold,
    Op,
    Put,
    ReadView,
    Release,
    Step,
    WriteHook,
)

logger = logging.getLogger(__name__)

# LMDB's compile-time limit on the length of a key.
MAX_KEY_BYTES = 511
SPACES = ("docs", "meta", "index", "graph", "vectors", "prepared", "decisions")
"""Named key spaces, each an LMDB sub-database."""

#: The default upper bound of the memory map: 64 GiB, sparse on disk.
DEFAULT_MAP_SIZE = 1 << 36
_GROUP_MAX_BATCHES = 512
# What LMDB raises when a write finds no room: the map is used up, or the disk.
_NO_ROOM = (lmdb.MapFullError, lmdb.DiskError)


class _TxnView:
    """A `ReadView` over an open LMDB transaction."""

    def __init__(
        self,
        txn: lmdb.Transaction,
        dbs: dict[str, Any],
        locks: KeyLocks | None = None,
    ) -> None:
        self._txn = txn
        self._dbs = dbs
        self._locks = locks

    def reserved(self, space: str, prefix: bytes) -> list[tuple[bytes, int]]:
        return self._locks.under(space, prefix) if self._locks else []

    def get(self, space: str, key: bytes) -> bytes | None:
        value = self._txn.get(key, None, self._dbs[space])
        return None if value is None else bytes(value)

    def get_many(self, space: str, keys: Sequence[bytes]) -> list[bytes | None]:
        # Every transaction here is opened without buffers: values are bytes already.
        # The database goes in by position: lmdb parses a keyword argument at a
        # cost of a quarter of the whole read (measured over 3,333 keys).
        get, db = self._txn.get, self._dbs[space]
        return cast(list[bytes | None], [get(key, None, db) for key in keys])

    def scan_back(
        self, space: str, prefix: bytes, *, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Keys under ``prefix`` from the last one (or the last below ``end``) down."""
        cursor = self._txn.cursor(db=self._dbs[space])
        upper = end if end is not None else prefix + b"\xff" * 8
        positioned = cursor.set_range(upper)
        if not (cursor.prev() if positioned else cursor.last()):
            return
        # Positioned below ``upper``: every key from here down is below ``end`` too.
        entries = cast("Iterator[tuple[bytes, bytes]]", cursor.iterprev())
        for key, value in entries:
            if not key.startswith(prefix):
                return
            yield key, value

    def scan(
        self, space: str, prefix: bytes = b"", *, start: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        cursor = self._txn.cursor(db=self._dbs[space])
        first = max(prefix, start) if start is not None else prefix
        if not cursor.set_range(first):
            return
        # Transactions are opened with buffers=False, so keys and values are bytes.
        entries = cast("Iterator[tuple[bytes, bytes]]", iter(cursor))
        for key, value in entries:
            if not key.startswith(prefix):
                return
            yield key, value


class Snapshot(_TxnView):
    """A read-only snapshot; close it (or use ``with``) to release the reader slot."""

    def __init__(self, env: lmdb.Environment, dbs: dict[str, Any]) -> None:
        try:
            txn = env.begin(write=False, buffers=False)
        except lmdb.ReadersFullError as exc:
            raise StorageError(
                "too many reads are open at once (transactions, cursors, queries); "
                "retry once some have finished"
            ) from exc
        super().__init__(txn, dbs)
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._txn.abort()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(slots=True)
class _Batch:
    ops: Sequence[Step]
    future: Future[list[bool]]


class Storage:
    """An LMDB environment with named spaces and a group-committing writer.

    Args:
        path: Directory of the database; created when missing.
        map_size: Upper bound of the memory map (sparse; only used pages cost disk).
        durable: fsync every commit. Only tests that do not care turn it off.
    """

    def __init__(
        self, path: Path, *, map_size: int = DEFAULT_MAP_SIZE, durable: bool = True
    ) -> None:
        path.mkdir(parents=True, exist_ok=True)
        try:
            self._env = lmdb.open(
                str(path),
                map_size=map_size,
                max_dbs=len(SPACES) + 1,
                max_readers=1024,
                sync=durable,
                metasync=durable,
            )
        except lmdb.Error as exc:
            raise StorageError(
                f"cannot open the database at {str(path)!r}: {exc}"
            ) from exc
        self._dbs = {name: self._env.open_db(name.encode()) for name in SPACES}
        self._hooks: list[WriteHook] = []
        self._listeners: list[CommitListener] = []
        self._closed = False
        #: Keys reserved by prepared transactions.
        self.locks = KeyLocks()
        self._queue: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._writer = threading.Thread(
            target=self._write_loop, name="themis-writer", daemon=True
        )
        self._writer.start()
        self.commits = 0
        self.batches = 0

    def add_hook(self, hook: WriteHook) -> None:
        """Register a hook that derives operations from every later write."""
        self._hooks.append(hook)

    def add_listener(self, listener: CommitListener) -> None:
        """Register a listener told about every later durable write."""
        self._listeners.append(listener)

    def snapshot(self) -> Snapshot:
        """Open a consistent read-only view of the whole store."""
        return Snapshot(self._env, self._dbs)

    def get(self, space: str, key: bytes) -> bytes | None:
        """Read one value from the latest committed state."""
        with self.snapshot() as view:
            return view.get(space, key)

    def submit(self, ops: Sequence[Step]) -> Future[list[bool]]:
        """Queue an atomic batch; the future resolves once it is durable.

        The result holds, per operation, whether the key existed before it.

        Raises:
            StorageError: writes were stopped (the node is shutting down).
        """
        if not self._writer.is_alive():
            raise StorageError("the storage takes no more writes: it is shutting down")
        batch = _Batch(ops, Future())
        self._queue.put(batch)
        return batch.future

    def write(self, ops: Sequence[Step]) -> list[bool]:
        """Apply an atomic batch and wait until it is durable."""
        return self.submit(ops).result()

    async def write_async(self, ops: Sequence[Step]) -> list[bool]:
        """Apply an atomic batch from a coroutine without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(ops))

    def stats(self) -> dict[str, Any]:
        """Entry counts per space and environment figures."""
        info = self._env.info()
        with self._env.begin() as txn:
            entries = {name: txn.stat(db)["entries"] for name, db in self._dbs.items()}
        return {
            "engine": "lmdb",
            "entries": entries,
            "map_size_bytes": info["map_size"],
            "used_bytes": (info["last_pgno"] + 1) * self._env.stat()["psize"],
            "last_txn_id": info["last_txnid"],
            "group_commits": self.commits,
            "batches_committed": self.batches,
        }

    def version(self) -> int:
        """The id of the last committed write transaction; every write changes it."""
        return int(self._env.info()["last_txnid"])

    def stop_writes(self) -> None:
        """Finish queued writes and stop the writer; reads keep working."""
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join()

    def close(self) -> None:
        """Finish queued writes, stop the writer and close the environment."""
        if self._closed:
            return
        self._closed = True
        self.stop_writes()
        self._env.close()

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stop = self._drain(group)
            self._commit_group(group)
            if stop:
                return

    def _drain(self, group: list[_Batch]) -> bool:
        while len(group) < _GROUP_MAX_BATCHES:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            group.append(item)
        return False

    def _commit_group(self, group: list[_Batch]) -> None:
        outcomes: list[tuple[_Batch, list[bool] | BaseException]] = []
        changes: list[Change] = []
        journal: list[Callable[[], None]] = []
        try:
            with self._env.begin(write=True) as txn:
                for batch in group:
                    outcome = self._apply_nested(txn, batch.ops, changes, journal)
                    outcomes.append((batch, outcome))
        except _NO_ROOM as exc:
            take_back(journal)
            if len(group) > 1:
                # Together they did not fit; each alone may.
                for batch in group:
                    self._commit_group([batch])
                return
            outcomes = [(group[0], self._full(exc))]
        except lmdb.Error as exc:
            logger.error("group commit of %d batches failed: %s", len(group), exc)
            take_back(journal)
            error = StorageError(f"the storage engine failed to commit: {exc}")
            outcomes = [(batch, error) for batch in group]
        else:
            self.commits += 1
            self.batches += len(group)
            self._notify(changes)
        for batch, outcome in outcomes:
            _resolve(batch.future, outcome)

    def _full(self, exc: lmdb.Error) -> StorageFull:
        if isinstance(exc, lmdb.DiskError):
            reason = "the disk holding the store is full"
        else:
            size = self._env.info()["map_size"]
            reason = (
                f"the store has used up its map of {size} bytes; restart the node "
                f"with a larger --map-size"
            )
        logger.warning("a write did not fit: %s", reason)
        return StorageFull(
            f"expected room for the write, received none: {reason}, or delete data. "
            f"Nothing of the write was applied"
        )

    def _apply_nested(
        self,
        txn: lmdb.Transaction,
        ops: Sequence[Step],
        changes: list[Change],
        journal: list[Callable[[], None]],
    ) -> list[bool] | BaseException:
        child = self._env.begin(write=True, parent=txn)
        mark, undo_mark = len(changes), len(journal)
        try:
            existed = self._apply(child, ops, changes, journal)
        except Exception as exc:
            child.abort()
            del changes[mark:]
            take_back(journal, undo_mark)
            if isinstance(exc, ServerError):
                return exc
            if isinstance(exc, _NO_ROOM):
                return self._full(exc)
            # A hook bug must not kill the writer.
            logger.exception("write hook failed")
            return StorageError(f"the write could not be applied: {exc}")
        child.commit()
        return existed

    def _apply(
        self,
        txn: lmdb.Transaction,
        ops: Sequence[Step],
        changes: list[Change],
        journal: list[Callable[[], None]],
    ) -> list[bool]:
        view = _TxnView(txn, self._dbs, self.locks)
        existed = []
        for op in _expand(view, ops):
            if isinstance(op, Hold):
                self._hold(txn, op, journal)
            elif isinstance(op, Release):
                journal.extend(self.locks.release(op.holder))
            else:
                old = view.get(op.space, op.key)
                existed.append(old is not None)
                self._apply_one(txn, op)
                changes.append(Change(op, old))
                for derived in self._derive(view, op, old):
                    self._apply_one(txn, derived)
        return existed

    def _hold(
        self, txn: lmdb.Transaction, hold: Hold, journal: list[Callable[[], None]]
    ) -> None:
        trial = self._env.begin(write=True, parent=txn)
        view = _TxnView(trial, self._dbs, self.locks)
        written: list[Op] = []
        try:
            for op in hold.ops:
                old = view.get(op.space, op.key)
                self._apply_one(trial, op)
                written.append(op)
                for derived in self._derive(view, op, old):
                    self._apply_one(trial, derived)
                    written.append(derived)
        finally:
            trial.abort()
        keys = {(op.space, op.key) for op in written if op.space != "meta"}
        journal.extend(self.locks.reserve(hold.holder, keys))

    def _notify(self, changes: Sequence[Change]) -> None:
        for listener in self._listeners:
            try:
                listener(changes)
            except Exception:
                logger.exception("commit listener failed")

    def _derive(self, view: ReadView, op: Op, old: bytes | None) -> Iterator[Op]:
        for hook in self._hooks:
            yield from hook(view, op, old)

    def _apply_one(self, txn: lmdb.Transaction, op: Op) -> None:
        if self.locks:
            self.locks.check(op)
        if not 0 < len(op.key) <= MAX_KEY_BYTES:
            # Hooks name the usual causes first; this stops any other before LMDB.
            raise BadRequest(
                f"expected storage keys of 1 to {MAX_KEY_BYTES} bytes, received "
                f"{len(op.key)} bytes in space {op.space!r}: {op.key[:60]!r}"
            )
        db = self._dbs[op.space]
        if isinstance(op, Put):
            txn.put(op.key, op.value, db=db)
        else:
            txn.delete(op.key, db=db)


def _expand(view: ReadView, ops: Sequence[Step]) -> Iterator[Op | Hold | Release]:
    for op in ops:
        if isinstance(op, Compute):
            yield from op.derive(view)
        else:
            yield op


def _resolve(future: Future[list[bool]], outcome: list[bool] | BaseException) -> None:
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
