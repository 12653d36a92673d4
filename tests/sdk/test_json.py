from __future__ import annotations

import json
from decimal import Decimal
from types import MappingProxyType

import pytest

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
