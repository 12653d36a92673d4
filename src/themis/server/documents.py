"""Documents on top of the storage spaces: blobs, the collection registry, decoding."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from themis import _json
from themis.server.errors import BadRequest
from themis.server.http import MAX_NESTING
from themis.server.keys import DocKey, collection_prefix, decode_storage_key
from themis.server.storage import Storage
from themis.server.storage_ops import Change, Delete, Op, Put, ReadView

_COLLECTION_PREFIX = b"collection\x1f"


def parse_blob(blob: Any, key: str) -> bytes:
    """Check that a blob is JSON text of an object and return its bytes.

    Raises:
        BadRequest: the blob is not a string, not JSON, or not an object.
    """
    if not isinstance(blob, str):
        raise BadRequest(
            f"expected 'blob' to be a string of JSON text for {key!r}, "
            f"received {type(blob).__name__}"
        )
    try:
        raw = blob.encode()
        value = _json.loads(raw, max_depth=MAX_NESTING)
    except UnicodeEncodeError:
        raise BadRequest(
            f"'blob' of {key!r} is not valid text: it holds a lone UTF-16 surrogate"
        ) from None
    except ValueError as exc:
        raise BadRequest(f"'blob' of {key!r} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BadRequest(
            f"expected 'blob' of {key!r} to hold a JSON object, "
            f"received {type(value).__name__}"
        )
    return raw


def decode_document(key: DocKey, blob: bytes) -> dict[str, Any]:
    """The document as queries see it: the stored object plus _key, _id and _urn."""
    doc: dict[str, Any] = _json.loads(blob)
    doc["_key"] = key.pk
    doc["_id"] = key.wire
    doc["_urn"] = key.urn
    return doc


class DocumentStore:
    """Reads and writes documents; keeps the registry of collections per namespace."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        with storage.snapshot() as view:
            self._registered = {raw for raw, _ in view.scan("meta", _COLLECTION_PREFIX)}
        storage.add_hook(self._register_collection)
        storage.add_listener(self._remember_registrations)

    def get(self, key: DocKey) -> bytes | None:
        """The stored blob of one document, or None."""
        return self.storage.get("docs", key.storage())

    async def put_many(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        """Store ``(storage key, blob)`` pairs atomically; durable when this returns."""
        ops = [Put("docs", key, blob) for key, blob in items]
        await self.storage.write_async(ops)

    async def delete_many(self, keys: Sequence[DocKey]) -> list[bool]:
        """Delete documents atomically; returns, per key, whether it existed."""
        ops = [Delete("docs", key.storage()) for key in keys]
        return await self.storage.write_async(ops)

    def _register_collection(
        self, view: ReadView, op: Op, old: bytes | None
    ) -> Sequence[Op]:
        if op.space != "docs" or not isinstance(op, Put) or old is not None:
            return ()
        namespace, collection, _ = op.key.split(b"\x1f", 2)
        meta_key = _COLLECTION_PREFIX + namespace + b"\x1f" + collection
        # The set only holds committed registrations; others are checked in the txn.
        if meta_key in self._registered or view.get("meta", meta_key) is not None:
            return ()
        return (Put("meta", meta_key, b"{}"),)

    def _remember_registrations(self, changes: Sequence[Change]) -> None:
        for change in changes:
            key = change.op.key
            if change.op.space == "meta" and key.startswith(_COLLECTION_PREFIX):
                self._registered.add(key)


def scan_collection(
    view: ReadView, namespace: str, collection: str
) -> Iterator[tuple[DocKey, bytes]]:
    """Every document of a collection in ``_key`` order."""
    for raw, blob in view.scan("docs", collection_prefix(namespace, collection)):
        yield decode_storage_key(raw), blob


def has_collection(view: ReadView, namespace: str, collection: str) -> bool:
    """Whether any document was ever written to the collection."""
    return view.get("meta", _collection_key(namespace, collection)) is not None


def list_collections(view: ReadView, namespace: str) -> list[str]:
    """Names of the collections known in a namespace, sorted."""
    prefix = _COLLECTION_PREFIX + namespace.encode() + b"\x1f"
    return [raw[len(prefix) :].decode() for raw, _ in view.scan("meta", prefix)]


def _collection_key(namespace: str, collection: str) -> bytes:
    return _COLLECTION_PREFIX + f"{namespace}\x1f{collection}".encode()
