"""JSON encoding shared by the SDK and the server.

orjson is fast but reads integers beyond 64 bits as floats and refuses to write them.
Documents must round-trip exactly, so those rare payloads go through the standard
library instead.

Decoding a large body (a batch of thousands of documents) creates thousands of
containers, and each few hundred of them start a pass of Python's cyclic garbage
collector over the young objects, and now and then over the whole heap. Decoded
JSON holds no reference cycles, so those passes find nothing to free; the
collector is paused while such a body is decoded (measured: a 10,000-key batch
read took 22 ms on average instead of 29 ms). The value is then walked once by the
next young pass. Moving it straight to the oldest generation instead (``gc.freeze``
then ``gc.unfreeze``) saved that pass, about 0.9 ms per 10,000 documents, but also
reset the collector's counts: a process reading batches in a loop then ran no full
pass at all, keeping every cycle made meanwhile (84 after 300 batches, and growing).
"""

from __future__ import annotations

import gc
import json
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orjson

# Nineteen digits in a row may exceed the 64-bit range orjson handles exactly. Mapping
# every digit to "0" and searching for the run is a C-speed pass; a regex over the
# same bytes costs more than orjson's whole parse.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19
# The largest object Python's small-object allocator serves.
_SMALL_OBJECT = 512
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_CURLY_TO_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'[]{}"\\')))
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
# Bodies at least this large are decoded with the garbage collector paused.
LARGE_BODY = 64 * 1024


def loads(data: bytes | str, *, max_depth: int | None = None) -> Any:
    """Decode JSON text, keeping integers of any size exact.

    Args:
        data: The text.
        max_depth: The deepest nesting of arrays and objects accepted, if limited.

    Raises:
        ValueError: the text is not valid JSON, holds a lone UTF-16 surrogate, or is
            nested deeper than ``max_depth``.
    """
    raw = data.encode() if isinstance(data, str) else data
    if _LONG_RUN in raw.translate(_DIGITS_TO_ZERO):
        value = _exact(raw)
    elif len(raw) >= LARGE_BODY:
        with collector_paused():
            value = orjson.loads(raw)
    else:
        value = orjson.loads(raw)
    if max_depth is not None and _nesting(raw, max_depth) > max_depth:
        raise ValueError(
            f"expected arrays and objects nested at most {max_depth} levels deep, "
            f"received more levels"
        )
    return value


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pauses Python's cyclic garbage collector for the block, in any thread.

    Pauses overlap safely: the collector resumes when the last one ends, and only if
    it was running when the first began.
    """
    global _pauses, _resume
    with _pause_lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()


_pause_lock = threading.Lock()
_pauses = 0
_resume = False


def _exact(raw: bytes) -> Any:
    """Decodes with the standard library, which keeps long integers exact."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError(
            "expected JSON nested fewer than 1000 levels deep, received more levels"
        ) from None
    if _SURROGATE_ESCAPE.search(raw) is not None:
        # orjson refuses lone surrogates; here only writing the value finds them.
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise ValueError(
                "expected text of valid Unicode, received a lone UTF-16 surrogate "
                "escape"
            ) from None
    return value


def _nesting(raw: bytes, limit: int) -> int:
    """The nesting depth of the valid JSON text ``raw``, or ``limit + 1`` if deeper.

    Only the brackets matter, once strings are out of the way. When no string holds
    a bracket or a backslash (the usual case), every string leaves an adjacent pair
    of quotes among the kept characters, and one C-speed replace removes them all;
    otherwise a regular expression drops the strings. The brackets left form a
    balanced word, peeled one level per pass.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return 0
    kept = raw.translate(None, _NOT_STRUCTURE)
    if b"\\" not in kept:
        kept = kept.replace(b'""', b"")
    if b'"' in kept:
        kept = _STRING.sub(b"", raw).translate(None, _NOT_STRUCTURE)
    brackets = kept.translate(_CURLY_TO_SQUARE)
    for depth in range(limit + 1):
        if not brackets:
            return depth
        brackets = brackets.replace(b"[]", b"")
    return limit + 1


def dumps(value: Any) -> bytes:
    """Encode a value as compact UTF-8 JSON, keeping integers of any size exact."""
    try:
        text = orjson.dumps(value)
    except TypeError:
        return _exact_text(value)
    # orjson's output lives in a block from the system allocator; thousands of small
    # ones kept alive at once (a batch's documents until their commit) cost several
    # times the encoding itself, where copies in Python's small-object pool do not.
    return bytes(memoryview(text)) if len(text) <= _SMALL_OBJECT else text


def _exact_text(value: Any) -> bytes:
    try:
        text = json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), default=_plain_value
        )
        return text.encode()
    except RecursionError:
        raise ValueError("cannot write JSON nested this deeply") from None
    except UnicodeEncodeError:
        raise ValueError("cannot write a lone UTF-16 surrogate as JSON") from None


def _plain_value(value: Any) -> Any:
    # Any mapping is written as the JSON object it stands for; other unknown
    # values as their text.
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"expected a JSON number, received {name!r}")
