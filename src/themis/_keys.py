"""Entity wire keys and URNs.

An entity written as ``(model, collection, uuid)`` in a namespace has the wire key
``{model}.{namespace}.{collection}:{uuid}`` and the URN
``urn:themis:{model}:{namespace}:{collection}:{uuid}``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

__all__ = [
    "URN_PREFIX",
    "check_uuid",
    "check_uuids",
    "printable",
    "table",
    "urn",
    "urn_from_wire_key",
    "validate_part",
    "wire_key",
]

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


def check_uuid(uuid: str) -> str:
    """Checks an entity uuid and returns it unchanged (see :func:`validate_part`)."""
    if isinstance(uuid, str) and uuid and _plain(uuid):
        return uuid
    return validate_part("uuid", uuid, dotted=True)


def check_uuids(uuids: Sequence[str]) -> None:
    """Checks many uuids at once.

    Raises:
        ValueError: As :func:`check_uuid`, for the first uuid that fails.
    """
    # Joined by a space, which no check looks for, the uuids are checked in a few
    # C-speed passes; only a failure walks them one by one to word the error.
    try:
        if all(uuids) and _plain(" ".join(uuids)):
            return
    except TypeError:
        pass
    for uuid in uuids:
        check_uuid(uuid)


def printable(text: str) -> bool:
    """Whether ``text`` is all printable characters, as :meth:`str.isprintable`."""
    if text.isascii():
        # Deleting every printable byte in one C pass leaves only control
        # characters, several times faster than a lookup per character.
        return not text.encode().translate(None, _PRINTABLE_ASCII)
    return text.isprintable()


_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def _plain(text: str) -> bool:
    # Plain str scans accept the usual uuid several times faster than the regex;
    # anything unusual takes the full check, which also words the error.
    return (
        printable(text)
        and ":" not in text
        and "/" not in text
        and "\\" not in text
        and ".." not in text
    )


def wire_key(model: str, namespace: str, collection: str, uuid: str) -> str:
    """Returns the wire key of an entity, validating every part."""
    return f"{table(model, namespace, collection)}:{check_uuid(uuid)}"


@functools.lru_cache(maxsize=1024)
def table(model: str, namespace: str, collection: str) -> str:
    """Returns the table ``model.namespace.collection``, validating every part."""
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
    name, _, pk = wire_key(model, namespace, collection, uuid).partition(":")
    return URN_PREFIX + ":".join((*name.split("."), pk))


def urn_from_wire_key(key: str) -> str | None:
    """Returns the URN for a ``model.namespace.collection:uuid`` key.

    Returns:
        The URN, or ``None`` for keys of any other shape (plain ``table:pk``).
    """
    name, sep, pk = key.partition(":")
    parts = name.split(".")
    if not sep or not pk or len(parts) != 3 or not all(parts):
        return None
    return URN_PREFIX + ":".join((*parts, pk))
