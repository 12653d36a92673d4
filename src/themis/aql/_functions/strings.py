"""String functions, and the LIKE and regular-expression matchers."""

from __future__ import annotations

import functools
import re
from typing import Any

import re2
from re2 import _re2

from themis.aql._functions._registry import register
from themis.aql._values import to_number, to_string
from themis.aql.errors import AqlExecutionError


@functools.lru_cache(maxsize=256)
def like_pattern(pattern: str, case_insensitive: bool = False) -> re.Pattern[str]:
    """Compile a LIKE pattern: ``%`` any run, ``_`` one char, ``\\`` escapes.

    Between the first and the last ``%``, each fixed-length piece is matched at its
    leftmost place and never reconsidered (an atomic group): that is always right
    for LIKE, and it keeps matching linear in the text for any number of ``%``,
    where plain ``.*`` would backtrack through every combination.
    """
    pieces: list[list[str]] = [[]]
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            pieces[-1].append(re.escape(next(chars, "\\")))
        elif char == "%":
            pieces.append([])
        elif char == "_":
            pieces[-1].append(".")
        else:
            pieces[-1].append(re.escape(char))
    texts = ["".join(piece) for piece in pieces]
    if len(texts) == 1:
        body = texts[0]
    else:
        middle = "".join(f"(?>.*?{text})" for text in texts[1:-1])
        body = f"{texts[0]}{middle}.*{texts[-1]}"
    flags = re.DOTALL | (re.IGNORECASE if case_insensitive else 0)
    return re.compile(body, flags)


class _Regex:
    """A regular expression matched by RE2, in time linear in the text.

    Python's backtracking engine can take exponential time on patterns such as
    ``(a+)+$``; a query must not be able to stall a node that way.
    """

    __slots__ = ("_compiled",)

    def __init__(self, pattern: str, case_insensitive: bool) -> None:
        options = re2.Options()
        options.log_errors = False
        options.never_capture = True
        options.case_sensitive = not case_insensitive
        self._compiled = _re2.RE2(pattern.encode(), options)
        if not self._compiled.ok():
            message = self._compiled.error()
            if isinstance(message, bytes):
                message = message.decode(errors="replace")
            raise AqlExecutionError(
                f"invalid regular expression {pattern!r}: {message}"
            )

    def search(self, text: str) -> bool:
        """Return whether the expression matches anywhere in `text`."""
        data = text.encode()
        spans = self._compiled.Match(_UNANCHORED, data, 0, len(data))
        return bool(spans[0] != _NO_MATCH)


_UNANCHORED = re2._Anchor.UNANCHORED
_NO_MATCH = (-1, -1)


@functools.lru_cache(maxsize=256)
def regex(pattern: str, case_insensitive: bool = False) -> _Regex:
    """Compile a regular expression, reporting invalid ones as AqlExecutionError."""
    return _Regex(pattern, case_insensitive)


def like(text: Any, pattern: Any, case_insensitive: Any = False) -> bool:
    """Return whether `text` matches the LIKE `pattern`."""
    compiled = like_pattern(to_string(pattern), bool(case_insensitive))
    return compiled.fullmatch(to_string(text)) is not None


def regex_test(text: Any, pattern: Any, case_insensitive: Any = False) -> bool:
    """Return whether `pattern` matches anywhere in `text`."""
    return regex(to_string(pattern), bool(case_insensitive)).search(to_string(text))


register("LIKE", min_args=2, max_args=3)(like)
register("REGEX_TEST", min_args=2, max_args=3)(regex_test)


@register("CONCAT", min_args=1, max_args=None)
def _concat(*values: Any) -> str:
    if len(values) == 1 and isinstance(values[0], list):
        values = tuple(values[0])
    return "".join(to_string(v) for v in values if v is not None)


@register("CONCAT_SEPARATOR", min_args=2, max_args=None)
def _concat_separator(separator: Any, *values: Any) -> str:
    flat: list[Any] = []
    for value in values:
        flat.extend(value if isinstance(value, list) else [value])
    return to_string(separator).join(to_string(v) for v in flat if v is not None)


@register("LOWER")
def _lower(value: Any) -> str:
    return to_string(value).lower()


@register("UPPER")
def _upper(value: Any) -> str:
    return to_string(value).upper()


@register("SUBSTRING", "SUBSTR", min_args=2, max_args=3)
def _substring(value: Any, offset: Any, length: Any = None) -> str:
    text = to_string(value)
    start = int(to_number(offset))
    if start < 0:
        start = max(len(text) + start, 0)
    if length is None:
        return text[start:]
    return text[start : start + max(int(to_number(length)), 0)]


@register("CONTAINS", min_args=2, max_args=3)
def _contains(value: Any, search: Any, return_index: Any = False) -> bool | int:
    position = to_string(value).find(to_string(search))
    return position if return_index else position >= 0


@register("SPLIT", min_args=1, max_args=3)
def _split(value: Any, separator: Any = None, limit: Any = None) -> list[str]:
    text = to_string(value)
    if separator is None:
        parts = [text]
    elif isinstance(separator, list):
        alternatives = "|".join(re.escape(to_string(s)) for s in separator)
        parts = re.split(alternatives, text) if alternatives else list(text)
    elif to_string(separator) == "":
        parts = list(text)
    else:
        parts = text.split(to_string(separator))
    if limit is not None and to_number(limit) >= 0:
        parts = parts[: int(to_number(limit))]
    return parts


def _trim_chars(chars: Any) -> str | None:
    return None if chars is None else to_string(chars)


@register("TRIM", min_args=1, max_args=2)
def _trim(value: Any, how: Any = None) -> str:
    text = to_string(value)
    if isinstance(how, str):
        return text.strip(how)
    mode = 0 if how is None else int(to_number(how))
    if mode == 1:
        return text.lstrip()
    if mode == 2:
        return text.rstrip()
    return text.strip()


@register("LTRIM", min_args=1, max_args=2)
def _ltrim(value: Any, chars: Any = None) -> str:
    return to_string(value).lstrip(_trim_chars(chars))


@register("RTRIM", min_args=1, max_args=2)
def _rtrim(value: Any, chars: Any = None) -> str:
    return to_string(value).rstrip(_trim_chars(chars))


@register("LEFT", min_args=2, max_args=2)
def _left(value: Any, length: Any) -> str:
    return to_string(value)[: max(int(to_number(length)), 0)]


@register("RIGHT", min_args=2, max_args=2)
def _right(value: Any, length: Any) -> str:
    count = max(int(to_number(length)), 0)
    text = to_string(value)
    return text[len(text) - count :] if count else ""


@register("REVERSE")
def _reverse(value: Any) -> Any:
    if isinstance(value, list):
        return value[::-1]
    return to_string(value)[::-1]


@register("STARTS_WITH", min_args=2, max_args=2)
def _starts_with(value: Any, prefix: Any) -> bool:
    text = to_string(value)
    prefixes = prefix if isinstance(prefix, list) else [prefix]
    return any(text.startswith(to_string(p)) for p in prefixes)


@register("FIND_FIRST", min_args=2, max_args=4)
def _find_first(value: Any, search: Any, start: Any = None, end: Any = None) -> int:
    text = to_string(value)
    low = 0 if start is None else int(to_number(start))
    high = len(text) if end is None else int(to_number(end)) + 1
    return text.find(to_string(search), low, high)


@register("SUBSTITUTE", min_args=2, max_args=4)
def _substitute(value: Any, search: Any, replace: Any = None, limit: Any = None) -> str:
    text = to_string(value)
    if isinstance(search, dict):
        mapping = {to_string(k): to_string(v) for k, v in search.items()}
        limit = replace
    else:
        searches = search if isinstance(search, list) else [search]
        replaces = replace if isinstance(replace, list) else [replace] * len(searches)
        mapping = {
            to_string(s): to_string(replaces[i]) if i < len(replaces) else ""
            for i, s in enumerate(searches)
        }
    mapping = {k: v for k, v in mapping.items() if k}
    if not mapping:
        return text
    pattern = "|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True))
    count = 0 if limit is None else max(int(to_number(limit)), 0)
    return re.sub(pattern, lambda m: mapping[m.group(0)], text, count=count)
