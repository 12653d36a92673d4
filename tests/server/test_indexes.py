"""Secondary indexes: value order, maintenance on every write, ranges, uniqueness."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from themis import _json
from themis.server.documents import DocumentStore
from themis.server.errors import Conflict
from themis.server.indexes import (
    IndexCatalog,
    IndexDefinition,
    count_index,
    encode_value,
    scan_index,
)
from themis.server.keys import DocKey, decode_storage_key, parse_key
from themis.server.storage import Storage

AGE = IndexDefinition("default", "people", ("age",), "range")


def _rank(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    return (3, value)


scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**52), 2**52),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)


@given(st.lists(scalars, min_size=2, max_size=8))
def test_encoding_sorts_like_aql(values: list[Any]) -> None:
    by_encoding = sorted(values, key=encode_value)
    by_rank = sorted(values, key=_rank)
    assert [_rank(v) for v in by_encoding] == [_rank(v) for v in by_rank]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Storage, DocumentStore, IndexCatalog]]:
    storage = Storage(tmp_path / "db", map_size=1 << 26, durable=False)
    yield storage, DocumentStore(storage), IndexCatalog(storage)
    storage.close()


def _put(documents: DocumentStore, key: str, doc: dict[str, Any]) -> None:
    asyncio.run(documents.put_many([(parse_key(key).storage(), _json.dumps(doc))]))


def _keys(
    storage: Storage, low: Any, high: Any, *, descending: bool = False
) -> list[str]:
    with storage.snapshot() as view:
        raws = scan_index(view, AGE, low, high, descending=descending)
        return [decode_storage_key(raw).pk for raw in raws]


def test_index_is_backfilled_and_maintained(
    store: tuple[Storage, DocumentStore, IndexCatalog],
) -> None:
    storage, documents, catalog = store
    _put(documents, "people:a", {"age": 30})
    _put(documents, "people:b", {"age": 17})
    assert asyncio.run(catalog.create(AGE)) is True

    _put(documents, "people:c", {"age": 45})
    _put(documents, "people:a", {"age": 12})
    _put(documents, "people:d", {"name": "no age"})
    asyncio.run(documents.delete_many([parse_key("people:b")]))

    assert _keys(storage, None, None) == ["d", "a", "c"]
    assert _keys(storage, (12, False), (45, True)) == ["c"]
    assert _keys(storage, (12, True), (45, False)) == ["a"]
    assert _keys(storage, None, None, descending=True) == ["c", "a", "d"]
    assert _keys(storage, (13, True), None, descending=True) == ["c"]
    assert _keys(storage, None, (45, False), descending=True) == ["a", "d"]
    assert _keys(storage, (12, True), (30, True), descending=True) == ["a"]
    with storage.snapshot() as view:
        counts = [count_index(view, AGE, None, None, cap) for cap in (0, 2, 10)]
        assert counts == [0, 2, 3]
        assert count_index(view, AGE, (12, False), None, 10) == 1


def test_index_definitions_survive_reopen(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "db", map_size=1 << 26, durable=False)
    asyncio.run(IndexCatalog(storage).create(AGE))
    storage.close()

    reopened = Storage(tmp_path / "db", map_size=1 << 26, durable=False)
    try:
        assert IndexCatalog(reopened).for_collection("default", "people") == [AGE]
    finally:
        reopened.close()


def test_unique_index_rejects_a_second_holder(
    store: tuple[Storage, DocumentStore, IndexCatalog],
) -> None:
    storage, documents, catalog = store
    unique = IndexDefinition("default", "people", ("email",), "hash", unique=True)
    asyncio.run(catalog.create(unique))
    _put(documents, "people:a", {"email": "a@x"})
    _put(documents, "people:a", {"email": "a@x", "v": 2})

    with pytest.raises(Conflict) as caught:
        _put(documents, "people:b", {"email": "a@x"})

    assert caught.value.message == (
        "unique index on 'email' of 'people' already holds this value for 'people:a'"
    )
    assert (
        storage.get("docs", DocKey("people", "b", "default", "people", "").storage())
        is None
    )


def test_conflicting_redefinition_is_409(
    store: tuple[Storage, DocumentStore, IndexCatalog],
) -> None:
    _, _, catalog = store
    asyncio.run(catalog.create(AGE))
    assert asyncio.run(catalog.create(AGE)) is False
    other = IndexDefinition("default", "people", ("age",), "hash")
    with pytest.raises(Conflict, match="exists with other settings"):
        asyncio.run(catalog.create(other))


def test_drop_removes_entries(
    store: tuple[Storage, DocumentStore, IndexCatalog],
) -> None:
    storage, documents, catalog = store
    asyncio.run(catalog.create(AGE))
    _put(documents, "people:a", {"age": 1})
    assert asyncio.run(catalog.drop(AGE)) is True
    assert storage.stats()["entries"]["index"] == 0
    assert catalog.for_collection("default", "people") == []


def test_concurrent_creates_build_one_index_and_agree_on_its_settings(
    store: tuple[Storage, DocumentStore, IndexCatalog],
) -> None:
    storage, documents, catalog = store
    _put(documents, "people:a", {"age": 30})

    async def twice(first: IndexDefinition, second: IndexDefinition) -> list[Any]:
        both = catalog.create(first), catalog.create(second)
        return list(await asyncio.gather(*both, return_exceptions=True))

    assert sorted(asyncio.run(twice(AGE, AGE))) == [False, True]
    assert catalog.for_collection("default", "people") == [AGE]

    name = IndexDefinition("default", "people", ("name",), "hash")
    unique = IndexDefinition("default", "people", ("name",), "hash", unique=True)
    outcomes = asyncio.run(twice(name, unique))
    assert outcomes[0] is True
    assert isinstance(outcomes[1], Conflict)
    assert "exists with other settings" in outcomes[1].message
    reopened = IndexCatalog(storage)
    assert reopened.for_collection("default", "people") == [AGE, name]
