"""Entity wire keys and URNs.

An entity written as ``(model, collection, uuid)`` in a namespace has the wire key
``{model}.{namespace}.{collection}:{uuid}`` and the URN
``urn:themis:{model}:{namespace}:{collection}:{uuid}``.
"""

from __future__ import annotations

import functools
import re

__all__ = ["URN_PREFIX", "urn", "urn_from_wire_key", "validate_part", "wire_key"]

URN_PREFIX = "urn:themis:"

_FORBIDDEN_IN_KEY = (":", "/", "\\", "..")
# One scan finds any forbidden character; the slow path below only names it.
_UNSAFE = re.compile(r"[:/\\\x00-\x1f]|\.\.")
_UNSAFE_UNDOTTED = re.compile(r"[:/\\.\x00-\x1f]")


def validate_part(what: str, value: str, *, dotted: bool = False) -> str:
    """Checks one part of a key and returns it unchanged.

    Args:
        what: The part's name for the error message (``"model"``, ``"uuid"``...).
        value: The value to check.
        dotted: Whether ``.`` is allowed (uuids may hold dots, table parts may not).

    Raises:
        ValueError: The value is empty or holds a character that would break the key.
    """
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    if (_UNSAFE if dotted else _UNSAFE_UNDOTTED).search(value) is None:
        return value
    forbidden = _FORBIDDEN_IN_KEY if dotted else (*_FORBIDDEN_IN_KEY, ".")
    bad = [part for part in forbidden if part in value]
    if bad or any(ord(char) < 32 for char in value):
        shown = ", ".join(repr(part) for part in bad) or "a control character"
        raise ValueError(f"{what} must not contain {shown}, got {value!r}")
    return value


def wire_key(model: str, namespace: str, collection: str, uuid: str) -> str:
    """Returns the wire key of an entity, validating every part."""
    pk = validate_part("uuid", uuid, dotted=True)
    return f"{_table(model, namespace, collection)}:{pk}"


@functools.lru_cache(maxsize=1024)
def _table(model: str, namespace: str, collection: str) -> str:
    # Batches repeat the same table for every key; validate it once.
    return ".".join(
        (
            validate_part("model", model),
            validate_part("namespace", namespace),
            validate_part("collection", collection),
        )
    )


def urn(model: str, namespace: str, collection: str, uuid: str) -> str:
    """Returns the URN of an entity, validating every part."""
    table, _, pk = wire_key(model, namespace, collection, uuid).partition(":")
    return URN_PREFIX + ":".join((*table.split("."), pk))


def urn_from_wire_key(key: str) -> str | None:
    """Returns the URN for a ``model.namespace.collection:uuid`` key.

    Returns:
        The URN, or ``None`` for keys of any other shape (plain ``table:pk``).
    """
    table, sep, pk = key.partition(":")
    parts = table.split(".")
    if not sep or not pk or len(parts) != 3 or not all(parts):
        return None
    return URN_PREFIX + ":".join((*parts, pk))
