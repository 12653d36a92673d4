"""Entity keys: validation of wire keys and their order-preserving storage form.

A wire key is ``table:pk``. A table ``model.namespace.collection`` (what the SDK writes)
belongs to that namespace and collection; any other table is a collection of the
``default`` namespace. Documents are stored under ``namespace␟collection␟pk␟model`` so
that one prefix scan reads a collection in ``_key`` order, whatever model wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from themis.server.errors import BadRequest

MAX_KEY_BYTES = 1024
DEFAULT_NAMESPACE = "default"
_SEP = "\x1f"
_FORBIDDEN = ("..", "/", "\\", "%2e", "%2E")
# One regex pass accepts almost every key; the slow path below names the problem.
_SUSPECT = re.compile(r"[\x00-\x1f\x7f/\\]|\.\.|%2[eE]")


@dataclass(frozen=True, slots=True)
class DocKey:
    """The parts of one entity key."""

    table: str
    pk: str
    namespace: str
    collection: str
    model: str

    @property
    def wire(self) -> str:
        """The ``table:pk`` form clients use."""
        return f"{self.table}:{self.pk}"

    @property
    def urn(self) -> str:
        """The ``urn:themis:`` form used for routing."""
        model = self.model or "relational"
        return f"urn:themis:{model}:{self.namespace}:{self.collection}:{self.pk}"

    def storage(self) -> bytes:
        """The byte key under which the document is stored."""
        parts = (self.namespace, self.collection, self.pk, self.model)
        return _SEP.join(parts).encode()


def parse_key(key: str) -> DocKey:
    """Validate a wire key and split it into its parts.

    Raises:
        BadRequest: the key is empty, too long, unsafe, or not ``table:pk``.
    """
    check_segment(key, "entity key")
    table, sep, pk = key.partition(":")
    if not sep or not table or not pk:
        raise BadRequest(f"Key must be in format 'table:pk', received {key!r}")
    return _from_parts(table, pk)


def check_segment(text: str, what: str) -> None:
    """Reject the empty, overlong, control-character and path-traversal cases.

    Raises:
        BadRequest: naming what was received and why it is refused.
    """
    if not text:
        raise BadRequest(f"invalid {what}: expected a non-empty string, received ''")
    if len(text) <= MAX_KEY_BYTES // 4 and _SUSPECT.search(text) is None:
        return
    if len(text.encode()) > MAX_KEY_BYTES:
        raise BadRequest(
            f"invalid {what}: expected at most {MAX_KEY_BYTES} bytes, "
            f"received {len(text.encode())} bytes"
        )
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise BadRequest(
            f"invalid {what}: control characters are not allowed, received {text!r}"
        )
    for token in _FORBIDDEN:
        if token in text:
            raise BadRequest(
                f"invalid {what}: {token!r} is not allowed in keys, received {text!r}"
            )


def decode_storage_key(raw: bytes) -> DocKey:
    """Rebuild the parts of a document from its storage key."""
    namespace, collection, pk, model = raw.decode().split(_SEP)
    table = f"{model}.{namespace}.{collection}" if model else collection
    return DocKey(table, pk, namespace, collection, model)


def collection_prefix(namespace: str, collection: str) -> bytes:
    """The storage prefix shared by every document of one collection."""
    return f"{namespace}{_SEP}{collection}{_SEP}".encode()


def _from_parts(table: str, pk: str) -> DocKey:
    parts = table.split(".")
    if len(parts) == 3 and all(parts):
        model, namespace, collection = parts
        return DocKey(table, pk, namespace, collection, model)
    return DocKey(table, pk, DEFAULT_NAMESPACE, table, "")
