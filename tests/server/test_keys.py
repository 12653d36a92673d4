from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from themis.server.errors import BadRequest
from themis.server.keys import (
    _one_table,
    parse_key,
    storage_keys,
    table_storage_keys,
)

GOOD = [
    "relational.default.users:1",
    "users:alice",
    "graph.ns.edges:a b c",
    "relational.default.users:émile",
]


def test_storage_keys_match_parse_key() -> None:
    stored, errors = storage_keys(GOOD)
    assert errors == {}
    assert stored == [parse_key(key).storage() for key in GOOD]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("users", "Key must be in format 'table:pk', received 'users'"),
        ("users:", "Key must be in format 'table:pk', received 'users:'"),
        ("users:../etc", "invalid entity key: '..' is not allowed in keys"),
        ("users:a/b", "invalid entity key: '/' is not allowed in keys"),
        ("users:a%2Eb", "invalid entity key: '%2E' is not allowed in keys"),
        ("users:a\x07", "invalid entity key: control characters are not allowed"),
        ("users:" + "x" * 600, "invalid entity key: expected at most 500 bytes"),
    ],
)
def test_storage_keys_report_each_bad_key_and_keep_the_rest(
    bad: str, message: str
) -> None:
    stored, errors = storage_keys([GOOD[0], bad, GOOD[1]])
    assert stored == [parse_key(GOOD[0]).storage(), parse_key(GOOD[1]).storage()]
    assert list(errors) == [1]
    assert errors[1].startswith(message)
    with pytest.raises(BadRequest) as caught:
        parse_key(bad)
    assert caught.value.message == errors[1]


def test_joining_keys_cannot_hide_or_invent_a_problem() -> None:
    # Neighbours ending and starting with "." must not read as "..".
    stored, errors = storage_keys(["users:a.", "users:.b", "users:%", "users:2e"])
    assert errors == {}
    assert len(stored) == 4


def test_long_but_valid_keys_take_the_careful_path() -> None:
    key = "users:" + "é" * 200
    stored, errors = storage_keys([key])
    assert errors == {} and stored == [parse_key(key).storage()]


def test_keys_with_colons_and_spaces_match_parse_key() -> None:
    keys = [f"relational.default.users:{i}" for i in range(50)] + [
        "relational.default.users:relational.default.users:x",
        "relational.default.users:a:b",
        "relational.default.users: spaced ",
    ]
    stored, errors = storage_keys(keys)
    assert errors == {}
    assert stored == [parse_key(key).storage() for key in keys]


@pytest.mark.parametrize(
    "keys",
    [
        ["users:1", "people:2"],
        ["users:1", "users:"],
        ["users:1", "usersX:2"],
        ["users:1", "users"],
        [":1", ":2"],
    ],
)
def test_mixed_or_malformed_batches_take_the_per_key_path(keys: list[str]) -> None:
    assert storage_keys(keys) == _one_by_one(keys)


def _one_by_one(keys: list[str]) -> tuple[list[bytes], dict[int, str]]:
    """What storage_keys must return: parse_key's outcome for each key on its own."""
    errors: dict[int, str] = {}
    stored: list[bytes] = []
    for position, key in enumerate(keys):
        try:
            stored.append(parse_key(key).storage())
        except BadRequest as exc:
            errors[position] = exc.message
    return stored, errors


_PK = st.text(
    alphabet=st.sampled_from(["a", "b", ":", ".", " ", "é", "%", "2", "u", "s"]),
    max_size=8,
)
_TABLE = st.sampled_from(["users", "relational.default.users", "u", "a.b", "s:"])


@given(st.lists(st.tuples(_TABLE, _PK), min_size=1, max_size=12))
def test_any_batch_of_keys_matches_parse_key_one_by_one(
    parts: list[tuple[str, str]],
) -> None:
    # Mostly one-table batches with awkward primary keys: colons, the table's own
    # name, empty ones; every outcome must equal checking each key on its own.
    keys = [f"{table}:{pk}" for table, pk in parts]
    assert storage_keys(keys) == _one_by_one(keys)


def test_a_one_table_batch_takes_the_bulk_path_with_the_same_result() -> None:
    keys = [f"relational.default.users:{i:06}" for i in range(3000)]
    keys.append("relational.default.users:x:relational.default.users:y")
    expected = [parse_key(key).storage() for key in keys]
    assert _one_table(keys) == expected
    assert storage_keys(keys) == (expected, {})


_PK_TABLE = st.sampled_from(["users", "relational.default.users", "u", "a.b", "a."])


@given(_PK_TABLE, st.lists(_PK, max_size=12))
def test_table_and_pks_match_the_wire_keys_they_stand_for(
    table: str, pks: list[str]
) -> None:
    assert table_storage_keys(table, pks) == _one_by_one(
        [f"{table}:{pk}" for pk in pks]
    )


def test_table_and_pks_report_bad_pks_by_position() -> None:
    pks = ["1", "", "../x", "a\x07", "é" * 200, "a:b", "x" * 600]
    stored, errors = table_storage_keys("users", pks)
    expected = _one_by_one([f"users:{pk}" for pk in pks])
    assert (stored, errors) == expected
    assert list(errors) == [1, 2, 3, 6]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("", "invalid table: expected a non-empty string, received ''"),
        ("a:b", "invalid table: expected no ':' in it, received 'a:b'"),
        ("../t", "invalid table: '..' is not allowed in keys, received '../t'"),
    ],
)
def test_a_bad_table_is_refused_whole(table: str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        table_storage_keys(table, ["1"])
    assert caught.value.message == message
