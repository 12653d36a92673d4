"""The node's AQL data source: system attributes and the needle prefilter."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from themis import _json
from themis.aql import Bound, compile_query
from themis.server.indexes import IndexDefinition, IndexKind
from themis.server.keys import parse_key
from themis.server.node import NodeConfig, open_node
from themis.server.state import NodeState


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeState]:
    state = open_node(NodeConfig(data_dir=tmp_path, durable=False))
    yield state
    state.storage.close()


def _put(node: NodeState, key: str, blob: str) -> None:
    asyncio.run(node.documents.put_many([(parse_key(key).storage(), blob.encode())]))


def _query(node: NodeState, text: str, **binds: Any) -> list[Any]:
    with node.storage.snapshot() as view:
        source = node.query_source(view, "default")
        return list(compile_query(text).execute(source, binds))


def test_documents_carry_key_id_and_urn(node: NodeState) -> None:
    _put(node, "relational.default.users:7", '{"name": "Ann"}')
    _put(node, "users:8", '{"name": "Ben"}')

    rows = _query(node, "FOR u IN users RETURN u")

    assert rows == [
        {
            "name": "Ann",
            "_key": "7",
            "_id": "relational.default.users:7",
            "_urn": "urn:themis:relational:default:users:7",
        },
        {
            "name": "Ben",
            "_key": "8",
            "_id": "users:8",
            "_urn": "urn:themis:relational:default:users:8",
        },
    ]


def test_escaped_text_still_matches_an_equality_filter(node: NodeState) -> None:
    _put(node, "users:a", '{"city": "\\u0042erlin"}')
    _put(node, "users:b", '{"city": "Berlin"}')
    _put(node, "users:c", '{"city": "Bonn"}')

    rows = _query(node, "FOR u IN users FILTER u.city == @c RETURN u._key", c="Berlin")

    assert rows == ["a", "b"]


def test_filters_on_system_attributes_are_not_prefiltered(node: NodeState) -> None:
    _put(node, "users:alice", '{"city": "Berlin"}')

    rows = _query(node, 'FOR u IN users FILTER u._key == "alice" RETURN u.city')

    assert rows == ["Berlin"]


def test_boolean_needles_keep_exact_semantics(node: NodeState) -> None:
    _put(node, "users:a", '{"active": true, "note": "false"}')
    _put(node, "users:b", '{"active": false}')

    rows = _query(node, "FOR u IN users FILTER u.active == false RETURN u._key")

    assert rows == ["b"]


def test_broad_equality_gives_way_to_ordered_reads_with_equal_results(
    node: NodeState,
) -> None:
    items = [
        (
            parse_key(f"items:{i:05}").storage(),
            f'{{"cat": "c{i % 2}", "score": {i % 97}}}'.encode(),
        )
        for i in range(2500)
    ]
    asyncio.run(node.documents.put_many(items))
    text = (
        "FOR d IN items FILTER d.cat == 'c1' SORT d.score DESC LIMIT 5, 12 "
        "RETURN [d._key, d.score]"
    )
    plain = _query(node, text)

    kinds: tuple[tuple[str, IndexKind], ...] = (("cat", "hash"), ("score", "range"))
    for column, kind in kinds:
        definition = IndexDefinition("default", "items", (column,), kind)
        asyncio.run(node.catalog.create(definition))
    with node.storage.snapshot() as view:
        source = node.query_source(view, "default")
        broad = source.estimate("items", ("cat",), Bound("c1"), Bound("c1"), 1000)
        narrow = source.estimate("items", ("cat",), Bound("c9"), Bound("c9"), 1000)

    assert (broad, narrow) == (1000, 0)
    assert _query(node, text) == plain
    assert len(plain) == 12


def test_ordered_index_reads_decode_only_documents_holding_the_needle(
    node: NodeState, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [
        (
            parse_key(f"items:{i:05}").storage(),
            f'{{"cat": "c{i % 5}", "score": {i}}}'.encode(),
        )
        for i in range(5000)
    ]
    # Spelled with escapes, this document's text lacks the needle "c1".
    escaped = b'{"cat": "\\u0063\\u0031", "score": 8e9}'
    items.append((parse_key("items:esc").storage(), escaped))
    items.append((parse_key("items:top").storage(), b'{"cat": "c1", "score": 9e9}'))
    asyncio.run(node.documents.put_many(items))
    text = "FOR d IN items FILTER d.cat == 'c1' SORT d.score DESC LIMIT 4 RETURN d._key"
    plain = _query(node, text)
    kinds: tuple[tuple[str, IndexKind], ...] = (("cat", "hash"), ("score", "range"))
    for column, kind in kinds:
        definition = IndexDefinition("default", "items", (column,), kind)
        asyncio.run(node.catalog.create(definition))
    decoded: list[Any] = []
    loads = _json.loads

    def counted(blob: bytes) -> Any:
        decoded.append(loads(blob))
        return decoded[-1]

    monkeypatch.setattr(_json, "loads", counted)

    assert _query(node, text) == plain == ["top", "esc", "04996", "04991"]
    # The score index is read from the top down over 17 documents. Only those
    # whose text holds "c1" or an escape are decoded: the four rows, and the next
    # one, read to see that no row ties with the last.
    assert len(decoded) == 5
    assert all(doc.get("cat") == "c1" for doc in decoded)
