from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from themis._keys import (
    check_uuid,
    check_uuids,
    printable,
    urn,
    urn_from_wire_key,
    wire_key,
)


def test_wire_key_and_urn_layout() -> None:
    assert (
        wire_key("relational", "default", "users", "42")
        == "relational.default.users:42"
    )
    assert urn("relational", "default", "users", "42") == (
        "urn:themis:relational:default:users:42"
    )


def test_urn_from_wire_key_only_for_sdk_keys() -> None:
    assert urn_from_wire_key("graph.ns.people:a.b") == "urn:themis:graph:ns:people:a.b"
    assert urn_from_wire_key("users:42") is None
    assert urn_from_wire_key("a.b:42") is None


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (("", "default", "users", "1"), "model must be a non-empty string, got ''"),
        (
            ("rel", "default", "us:ers", "1"),
            "collection must not contain ':', got 'us:ers'",
        ),
        (("rel", "default", "users", "a:b"), "uuid must not contain ':', got 'a:b'"),
        (("rel", "default", "users", ""), "uuid must be a non-empty string, got ''"),
        (("rel", "default", "a.b", "1"), "collection must not contain '.', got 'a.b'"),
    ],
)
def test_wire_key_rejects_bad_parts(
    parts: tuple[str, str, str, str], message: str
) -> None:
    with pytest.raises(ValueError) as info:
        wire_key(*parts)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("uuids", "message"),
    [
        (["a", "", "b"], "uuid must be a non-empty string, got ''"),
        (["a", "x:y"], "uuid must not contain ':', got 'x:y'"),
        (["a.", ".b", "c..d"], "uuid must not contain '..', got 'c..d'"),
        (["ok", "tab\there"], "uuid must not contain a control character"),
        (["ok", 7], "uuid must be a non-empty string, got 7"),
    ],
)
def test_check_uuids_names_the_first_bad_uuid(uuids: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        check_uuids(uuids)


def test_check_uuids_accepts_what_check_uuid_accepts() -> None:
    uuids = ["a.", ".b", "émile", "with space", "\u00a0nbsp", "x\x7f"]
    check_uuids(uuids)
    assert [check_uuid(uuid) for uuid in uuids] == uuids


@pytest.mark.parametrize("code", range(0x100))
def test_printable_agrees_with_isprintable_on_each_character(code: int) -> None:
    text = f"uuid-{chr(code)}-1"
    assert printable(text) is text.isprintable()


@given(st.text())
def test_printable_agrees_with_isprintable(text: str) -> None:
    assert printable(text) is text.isprintable()
