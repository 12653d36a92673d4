"""Secondary indexes on a document attribute path, kept in the "index" space.

An entry's key is ``index id ␟ encoded value ␟ storage key of the document``, where the
value encoding sorts like AQL compares: null < false < true < numbers < strings <
arrays < objects. Entries are written by a storage hook in the same transaction as the
document, so an index never disagrees with the data it covers.
"""

from __future__ import annotations

import itertools
import math
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from themis import _json
from themis.server.documents import scan_collection
from themis.server.errors import BadRequest, Conflict
from themis.server.keys import decode_storage_key
from themis.server.storage import MAX_KEY_BYTES, Storage
from themis.server.storage_ops import Compute, Delete, Op, Put, ReadView

IndexKind = Literal["hash", "range"]
_DEF_PREFIX = b"index\x1f"
_SEP = b"\x1f"


@dataclass(frozen=True, slots=True)
class IndexDefinition:
    """One secondary index of a collection."""

    namespace: str
    collection: str
    field: tuple[str, ...]
    kind: IndexKind
    unique: bool = False

    @property
    def ident(self) -> bytes:
        """The prefix of this index's entries."""
        path = ".".join(self.field)
        return f"{self.namespace}\x1f{self.collection}\x1f{path}\x1e".encode()

    def to_json(self) -> dict[str, Any]:
        """The wire description."""
        return {
            "namespace": self.namespace,
            "collection": self.collection,
            "field": ".".join(self.field),
            "type": "range" if self.kind == "range" else "equality",
            "unique": self.unique,
        }


def encode_value(value: Any) -> bytes:
    """An order-preserving, self-delimiting encoding of a JSON value."""
    if value is None:
        return b"\x00"
    if isinstance(value, bool):
        return b"\x01\x01" if value else b"\x01\x00"
    if isinstance(value, int | float):
        return b"\x02" + _encode_number(_as_float(value))
    if isinstance(value, str):
        return b"\x03" + _escape(value.encode())
    tag = b"\x04" if isinstance(value, list) else b"\x05"
    return tag + _escape(_json.dumps(value))


def _as_float(number: int | float) -> float:
    try:
        return float(number)
    except OverflowError:
        # An integer beyond the float range sorts with the infinity of its sign.
        return math.inf if number > 0 else -math.inf


def _encode_number(number: float) -> bytes:
    bits = struct.unpack(">Q", struct.pack(">d", number + 0.0))[0]
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | 1 << 63
    return struct.pack(">Q", bits)


def _escape(raw: bytes) -> bytes:
    return raw.replace(b"\x00", b"\x00\xff") + b"\x00\x01"


def field_value(document: Any, path: tuple[str, ...]) -> Any:
    """The value at an attribute path; missing attributes read as null."""
    for name in path:
        if not isinstance(document, dict):
            return None
        document = document.get(name)
    return document


class IndexCatalog:
    """The index definitions of a node, cached in memory and stored in "meta"."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._lock = threading.Lock()
        self._by_collection: dict[tuple[str, str], list[IndexDefinition]] = {}
        with storage.snapshot() as view:
            for _, raw in view.scan("meta", _DEF_PREFIX):
                self._add(definition_from_json(_json.loads(raw)))
        storage.add_hook(self._maintain)

    def for_collection(self, namespace: str, collection: str) -> list[IndexDefinition]:
        """The indexes of a collection."""
        with self._lock:
            return list(self._by_collection.get((namespace, collection), ()))

    def all(self) -> list[IndexDefinition]:
        """Every index of the node."""
        with self._lock:
            return [d for found in self._by_collection.values() for d in found]

    async def create(self, definition: IndexDefinition) -> bool:
        """Create and backfill an index; False when an identical one exists.

        Raises:
            Conflict: an index on the field exists with other settings, or the
                existing data violates a unique index.
        """
        existing = self._find(definition)
        if existing is not None:
            _check_same(existing, definition)
            return False
        created: list[bool] = []

        def backfill(view: ReadView) -> list[Op]:
            # Decided in the writer, so that two requests creating the index at
            # once build it once and agree on its settings.
            stored = view.get("meta", _definition_key(definition))
            if stored is not None:
                _check_same(definition_from_json(_json.loads(stored)), definition)
                return []
            created.append(True)
            return self._backfill(view, definition)

        await self._storage.write_async([Compute(backfill)])
        self._add(definition)
        return bool(created)

    async def drop(self, definition: IndexDefinition) -> bool:
        """Remove an index and its entries; False when there was none."""
        existing = self._find(definition)
        if existing is None:
            return False
        with self._lock:
            self._by_collection[(existing.namespace, existing.collection)].remove(
                existing
            )
        await self._storage.write_async([Compute(lambda view: _erase(view, existing))])
        return True

    def _find(self, definition: IndexDefinition) -> IndexDefinition | None:
        for known in self.for_collection(definition.namespace, definition.collection):
            if known.field == definition.field:
                return known
        return None

    def _add(self, definition: IndexDefinition) -> None:
        with self._lock:
            key = (definition.namespace, definition.collection)
            known = self._by_collection.setdefault(key, [])
            if all(d.field != definition.field for d in known):
                known.append(definition)

    def _backfill(self, view: ReadView, definition: IndexDefinition) -> list[Op]:
        ops: list[Op] = [
            Put("meta", _definition_key(definition), _definition_blob(definition))
        ]
        seen: dict[bytes, str] = {}
        for key, blob in scan_collection(
            view, definition.namespace, definition.collection
        ):
            encoded = encode_value(field_value(_json.loads(blob), definition.field))
            if definition.unique and encoded in seen and encoded != b"\x00":
                raise Conflict(
                    f"cannot create unique index on {'.'.join(definition.field)!r}: "
                    f"{seen[encoded]!r} and {key.wire!r} share a value"
                )
            seen[encoded] = key.wire
            ops.append(
                Put("index", _entry_key(definition, encoded, key.storage()), b"")
            )
        return ops

    def _maintain(self, view: ReadView, op: Op, old: bytes | None) -> Sequence[Op]:
        if op.space != "docs" or not self._by_collection:
            return ()
        namespace, collection, _ = op.key.decode().split("\x1f", 2)
        definitions = self.for_collection(namespace, collection)
        if not definitions:
            return ()
        old_doc = _json.loads(old) if old is not None else None
        new_doc = _json.loads(op.value) if isinstance(op, Put) else None
        derived: list[Op] = []
        for definition in definitions:
            derived += _entry_changes(view, definition, op.key, old_doc, new_doc)
        return derived


def _entry_changes(
    view: ReadView,
    definition: IndexDefinition,
    doc_key: bytes,
    old_doc: Any,
    new_doc: Any,
) -> list[Op]:
    old_value = (
        None
        if old_doc is None
        else encode_value(field_value(old_doc, definition.field))
    )
    new_value = (
        None
        if new_doc is None
        else encode_value(field_value(new_doc, definition.field))
    )
    if old_value == new_value:
        return []
    ops: list[Op] = []
    if old_value is not None:
        ops.append(Delete("index", _entry_key(definition, old_value, doc_key)))
    if new_value is not None:
        if definition.unique and new_value != b"\x00":
            _check_unique(view, definition, new_value, doc_key)
        entry = _entry_key(definition, new_value, doc_key)
        if len(entry) > MAX_KEY_BYTES:
            raise BadRequest(
                f"cannot index {'.'.join(definition.field)!r} of "
                f"{decode_storage_key(doc_key).wire!r}: expected a value of at most "
                f"{MAX_KEY_BYTES - len(entry) + len(new_value)} bytes once encoded, "
                f"received {len(new_value)} bytes"
            )
        ops.append(Put("index", entry, b""))
    return ops


def _check_unique(
    view: ReadView, definition: IndexDefinition, encoded: bytes, doc_key: bytes
) -> None:
    prefix = definition.ident + encoded + _SEP
    # Stored entries, then those a prepared transaction is about to write.
    taken: list[tuple[bytes, int | None]] = [
        (entry, None) for entry, _ in view.scan("index", prefix)
    ]
    taken += view.reserved("index", prefix)
    for entry, transaction in taken:
        holder = entry[len(prefix) :]
        if holder == doc_key:
            continue
        owner = decode_storage_key(holder).wire
        held = (
            f"already holds this value for {owner!r}"
            if transaction is None
            else f"holds this value for {owner!r} once prepared transaction "
            f"{transaction} commits; retry shortly"
        )
        raise Conflict(
            f"unique index on {'.'.join(definition.field)!r} of "
            f"{definition.collection!r} {held}"
        )


def _check_same(existing: IndexDefinition, definition: IndexDefinition) -> None:
    if existing != definition:
        raise Conflict(
            f"an index on {'.'.join(definition.field)!r} of "
            f"{definition.collection!r} exists with other settings: "
            f"{existing.to_json()}"
        )


def scan_index(
    view: ReadView,
    definition: IndexDefinition,
    low: tuple[Any, bool] | None,
    high: tuple[Any, bool] | None,
    *,
    descending: bool = False,
) -> Iterator[bytes]:
    """Storage keys of documents whose value lies in the range, in index order.

    Args:
        view: The snapshot to read.
        definition: The index to read.
        low: ``(value, inclusive)`` or None for an open start.
        high: ``(value, inclusive)`` or None for an open end.
        descending: Read from the high end down.
    """
    entries = _entries(view, definition, low, high, descending=descending)
    return map(_doc_key, entries)


def count_index(
    view: ReadView,
    definition: IndexDefinition,
    low: tuple[Any, bool] | None,
    high: tuple[Any, bool] | None,
    cap: int,
) -> int:
    """How many documents' values lie in the range, counting no further than ``cap``."""
    return sum(1 for _ in itertools.islice(_entries(view, definition, low, high), cap))


def _entries(
    view: ReadView,
    definition: IndexDefinition,
    low: tuple[Any, bool] | None,
    high: tuple[Any, bool] | None,
    *,
    descending: bool = False,
) -> Iterator[bytes]:
    """The index entries of the range (see :func:`scan_index`), in index order."""
    prefix = definition.ident
    start = (
        prefix
        if low is None
        else prefix + encode_value(low[0]) + (_SEP if low[1] else b"\x20")
    )
    end = (
        None
        if high is None
        else prefix + encode_value(high[0]) + (b"\x20" if high[1] else _SEP)
    )
    entries = (
        view.scan_back("index", prefix, end=end)
        if descending
        else view.scan("index", prefix, start=start)
    )
    for entry, _ in entries:
        if descending and entry < start:
            return
        if not descending and end is not None and entry >= end:
            return
        yield entry


def _doc_key(entry: bytes) -> bytes:
    # Encoded values may hold separator bytes, but a document's storage key has
    # exactly three and none of its parts can: it is the entry's last four parts.
    return _SEP.join(entry.rsplit(_SEP, 4)[-4:])


def _entry_key(definition: IndexDefinition, encoded: bytes, doc_key: bytes) -> bytes:
    return definition.ident + encoded + _SEP + doc_key


def _erase(view: ReadView, definition: IndexDefinition) -> list[Op]:
    ops: list[Op] = [
        Delete("index", key) for key, _ in view.scan("index", definition.ident)
    ]
    ops.append(Delete("meta", _definition_key(definition)))
    return ops


def _definition_key(definition: IndexDefinition) -> bytes:
    return _DEF_PREFIX + definition.ident


def _definition_blob(definition: IndexDefinition) -> bytes:
    return _json.dumps(definition.to_json())


def definition_from_json(raw: dict[str, Any]) -> IndexDefinition:
    """An index definition from its wire description (see `IndexDefinition.to_json`)."""
    kind: IndexKind = "range" if raw["type"] == "range" else "hash"
    return IndexDefinition(
        raw["namespace"],
        raw["collection"],
        tuple(raw["field"].split(".")),
        kind,
        raw["unique"],
    )
