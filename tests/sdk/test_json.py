from __future__ import annotations

import gc
import json
import threading
from decimal import Decimal
from types import MappingProxyType

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from themis import _json


@pytest.mark.parametrize(
    "text",
    [
        b'{"n": 123456789012345678901234567890}',
        b'{"n": -18446744073709551617, "m": [1, 2]}',
        b"[9223372036854775808]",
    ],
)
def test_integers_beyond_64_bits_stay_exact(text: bytes) -> None:
    assert _json.loads(text) == json.loads(text)
    assert _json.dumps(_json.loads(text)) == _json.dumps(json.loads(text))


def test_ordinary_numbers_and_digit_strings() -> None:
    assert _json.loads(b'{"a": 1234567890123456789, "b": "000000"}') == {
        "a": 1234567890123456789,
        "b": "000000",
    }
    assert _json.loads('{"s": "12345678901234567890123"}') == {
        "s": "12345678901234567890123"
    }


def test_constants_are_refused_on_the_exact_path() -> None:
    with pytest.raises(ValueError, match="expected a JSON number, received 'NaN'"):
        _json.loads(b"[NaN, 12345678901234567890123]")


def test_mappings_that_are_not_dicts_are_written_as_objects() -> None:
    doc = MappingProxyType({"n": 2**70, "inner": MappingProxyType({"a": 1})})
    assert _json.loads(_json.dumps(doc)) == {"n": 2**70, "inner": {"a": 1}}
    assert _json.dumps({"price": Decimal("1.50")}) == b'{"price":"1.50"}'


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@pytest.mark.parametrize(
    "text",
    [
        b"[[[1]]]",
        b'{"a": {"b": [{}]}}',
        b'["[[[[", "]]]]", {"k": "{{{"}]',
        b'[["\\"[[[", "\\\\"], "x"]',
        b'"[[[[[[[["',
        b'[{"a":"b"},[],{},["]"]]',
        b'["a\\u005b[[", [[["]"]]]]',
    ],
)
def test_nesting_limit_counts_only_brackets_outside_strings(text: bytes) -> None:
    depth = _depth(json.loads(text))
    for limit in range(6):
        if depth > limit:
            with pytest.raises(ValueError, match=f"nested at most {limit} levels"):
                _json.loads(text, max_depth=limit)
        else:
            assert _json.loads(text, max_depth=limit) == json.loads(text)


_TEXT = st.text(alphabet=st.sampled_from('ab[]{}"\\:,'), max_size=6)
_VALUES = st.recursive(
    st.none() | st.integers() | _TEXT,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3)
    ),
    max_leaves=12,
)


@given(_VALUES, st.integers(min_value=0, max_value=8))
def test_nesting_limit_matches_the_decoded_depth(value: object, limit: int) -> None:
    text = json.dumps(value).encode()
    if _depth(value) > limit:
        with pytest.raises(ValueError, match="nested at most"):
            _json.loads(text, max_depth=limit)
    else:
        assert _json.loads(text, max_depth=limit) == value


def test_a_large_body_decodes_with_the_collector_paused_then_restored() -> None:
    seen: list[bool] = []
    original = orjson.loads

    def spy(raw: bytes) -> object:
        seen.append(gc.isenabled())
        return original(raw)

    body = json.dumps([{"i": i, "tags": ["a"]} for i in range(5000)]).encode()
    assert len(body) >= _json.LARGE_BODY
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(orjson, "loads", spy)
        assert _json.loads(body)[4999] == {"i": 4999, "tags": ["a"]}
        assert _json.loads(b'{"small": true}') == {"small": True}
    assert seen == [False, True]
    assert gc.isenabled()


def test_overlapping_pauses_resume_the_collector_once_the_last_ends() -> None:
    first_in, second_in, first_out = (threading.Event() for _ in range(3))
    states: list[bool] = []

    def first() -> None:
        with _json.collector_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with _json.collector_paused():
        second_in.set()
        first_out.wait(5)
        states.append(gc.isenabled())
    thread.join(5)
    states.append(gc.isenabled())
    assert states == [False, True]


def test_a_collector_the_caller_stopped_stays_stopped() -> None:
    gc.disable()
    try:
        with _json.collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
