"""JSON encoding shared by the SDK and the server.

orjson is fast but reads integers beyond 64 bits as floats and refuses to write them.
Documents must round-trip exactly, so those rare payloads go through the standard
library instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

# Nineteen digits in a row may exceed the 64-bit range orjson handles exactly. Mapping
# every digit to "0" and searching for the run is a C-speed pass; a regex over the
# same bytes costs more than orjson's whole parse.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19
# The largest object Python's small-object allocator serves.
_SMALL_OBJECT = 512


def loads(data: bytes | str) -> Any:
    """Decode JSON text, keeping integers of any size exact.

    Raises:
        ValueError: the text is not valid JSON.
    """
    raw = data.encode() if isinstance(data, str) else data
    if _LONG_RUN in raw.translate(_DIGITS_TO_ZERO):
        return json.loads(raw, parse_constant=_reject_constant)
    return orjson.loads(raw)


def dumps(value: Any) -> bytes:
    """Encode a value as compact UTF-8 JSON, keeping integers of any size exact."""
    try:
        text = orjson.dumps(value)
    except TypeError:
        exact = json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), default=_plain_value
        )
        return exact.encode()
    # orjson's output lives in a block from the system allocator; thousands of small
    # ones kept alive at once (a batch's documents until their commit) cost several
    # times the encoding itself, where copies in Python's small-object pool do not.
    return bytes(memoryview(text)) if len(text) <= _SMALL_OBJECT else text


def _plain_value(value: Any) -> Any:
    # Any mapping is written as the JSON object it stands for; other unknown
    # values as their text.
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"expected a JSON number, received {name!r}")
