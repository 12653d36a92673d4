"""Entity keys: validation of wire keys and their order-preserving storage form.

A wire key is ``table:pk``. A table ``model.namespace.collection`` (what the SDK writes)
belongs to that namespace and collection; any other table is a collection of the
``default`` namespace. Documents are stored under ``namespace␟collection␟pk␟model`` so
that one prefix scan reads a collection in ``_key`` order, whatever model wrote it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import NamedTuple

from themis._keys import printable
from themis.server.errors import BadRequest

# A wire key's storage form is at most 9 bytes longer (the default namespace), so
# every valid key fits LMDB's 511-byte limit.
MAX_KEY_BYTES = 500
DEFAULT_NAMESPACE = "default"
_SEP = "\x1f"
_FORBIDDEN = ("..", "/", "\\", "%2e", "%2E")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class DocKey(NamedTuple):
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
    table, pk = _split(key)
    return _from_parts(table, pk)


def storage_keys(keys: Sequence[str]) -> tuple[list[bytes], dict[int, str]]:
    """Validate many wire keys at once and return their storage forms.

    Returns:
        The storage form of each valid key, in order, and the error message of each
        invalid key by its position in ``keys``.
    """
    # Joined by a space, which no check looks for, typical keys pass the segment
    # checks in a few C-speed passes; otherwise each key is checked on its own.
    checked = not keys or (
        max(map(len, keys)) <= MAX_KEY_BYTES // 4 and _plain(" ".join(keys))
    )
    if checked and keys:
        same = _one_table(keys)
        if same is not None:
            return same, {}
    affixes: dict[str, tuple[str, str]] = {}
    stored: list[bytes] = []
    errors: dict[int, str] = {}
    for position, key in enumerate(keys):
        table, sep, pk = key.partition(":")
        if not (checked and sep and table and pk):
            try:
                table, pk = _split(key)
            except BadRequest as exc:
                errors[position] = exc.message
                continue
        around = affixes.get(table)
        if around is None:
            around = affixes[table] = _storage_affixes(table)
        stored.append((around[0] + pk + around[1]).encode())
    return stored, errors


def table_storage_keys(
    table: str, pks: Sequence[str]
) -> tuple[list[bytes], dict[int, str]]:
    """Validate the keys ``table:pk`` of one table and return their storage forms.

    Returns:
        As :func:`storage_keys` for the keys ``f"{table}:{pk}"``.

    Raises:
        BadRequest: the table itself is not a valid table name.
    """
    check_segment(table, "table")
    if ":" in table:
        raise BadRequest(f"invalid table: expected no ':' in it, received {table!r}")
    # A space between the pks keeps any refused token from spanning two of them.
    longest = max(map(len, pks), default=0)
    if (
        all(pks)
        and len(table) + 1 + longest <= MAX_KEY_BYTES // 4
        and _plain(" ".join(pks))
    ):
        prefix, suffix = _storage_affixes(table)
        # Checked pks hold no control character, so NUL only separates them.
        joined = (suffix + "\x00" + prefix).join(pks)
        return (prefix + joined + suffix).encode().split(b"\x00") if pks else [], {}
    return storage_keys([f"{table}:{pk}" for pk in pks])


def _one_table(keys: Sequence[str]) -> list[bytes] | None:
    """The storage keys of checked keys that all name one table, else ``None``.

    A batch usually names one table, so its keys become storage keys in a few
    C-speed passes over their concatenation instead of one step per key. ``None``
    (any doubt) leaves the keys to the per-key path.
    """
    table, sep, _ = keys[0].partition(":")
    if not (sep and table):
        return None
    head = table + ":"
    # Checked keys hold no control character, so NUL can only be a separator: when
    # every one is followed by the head, every key starts with it.
    joined = "\x00".join(keys)
    if (
        joined.count("\x00" + head) != len(keys) - 1
        or head + "\x00" in joined
        or joined.endswith(head)
    ):
        return None
    prefix, suffix = _storage_affixes(table)
    body = joined[len(head) :].replace("\x00" + head, suffix + "\x00" + prefix)
    return (prefix + body + suffix).encode().split(b"\x00")


def _split(key: str) -> tuple[str, str]:
    check_segment(key, "entity key")
    table, sep, pk = key.partition(":")
    if not sep or not table or not pk:
        raise BadRequest(f"Key must be in format 'table:pk', received {key!r}")
    return table, pk


def check_segment(text: str, what: str) -> None:
    """Reject the empty, overlong, control-character and path-traversal cases.

    Raises:
        BadRequest: naming what was received and why it is refused.
    """
    if not text:
        raise BadRequest(f"invalid {what}: expected a non-empty string, received ''")
    if len(text) <= MAX_KEY_BYTES // 4 and _plain(text):
        return
    if len(text.encode()) > MAX_KEY_BYTES:
        raise BadRequest(
            f"invalid {what}: expected at most {MAX_KEY_BYTES} bytes, "
            f"received {len(text.encode())} bytes"
        )
    if _CONTROL.search(text) is not None:
        raise BadRequest(
            f"invalid {what}: control characters are not allowed, received {text!r}"
        )
    for token in _FORBIDDEN:
        if token in text:
            raise BadRequest(
                f"invalid {what}: {token!r} is not allowed in keys, received {text!r}"
            )


def _plain(text: str) -> bool:
    # Plain str scans accept almost every key; check_segment names any problem.
    return (
        printable(text)
        and "/" not in text
        and "\\" not in text
        and ".." not in text
        and "%2" not in text
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
    return DocKey(table, pk, *_table_parts(table))


@functools.lru_cache(maxsize=4096)
def _storage_affixes(table: str) -> tuple[str, str]:
    namespace, collection, model = _table_parts(table)
    return f"{namespace}{_SEP}{collection}{_SEP}", f"{_SEP}{model}"


@functools.lru_cache(maxsize=4096)
def _table_parts(table: str) -> tuple[str, str, str]:
    # Batches name one table thousands of times; split it once.
    parts = table.split(".")
    if len(parts) == 3 and all(parts):
        model, namespace, collection = parts
        return namespace, collection, model
    return DEFAULT_NAMESPACE, table, ""
