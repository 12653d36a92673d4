"""The overlay view: buffered documents and the data derived from them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from themis import _json
from themis.server.graph import adjacency_hook, adjacent
from themis.server.keys import parse_key
from themis.server.overlay import OverlayView
from themis.server.storage import Storage
from themis.server.storage_ops import Put


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    store = Storage(tmp_path / "lmdb", durable=False)
    store.add_hook(adjacency_hook)
    yield store
    store.close()


def _edge(pk: str, source: str, target: str) -> tuple[bytes, bytes]:
    key = parse_key(f"graph.default.edges:{pk}").storage()
    return key, _json.dumps({"_from": source, "_to": target})


def _targets(view: OverlayView, vertex: str) -> list[str]:
    return [item.vertex for item in adjacent(view, vertex, "out")]


def test_adjacency_shows_buffered_edges_and_hides_deleted_ones(
    storage: Storage,
) -> None:
    stored, moved = _edge("e1", "a", "b"), _edge("e2", "a", "c")
    storage.write([Put("docs", *stored), Put("docs", *moved)])
    added = _edge("e3", "a", "d")
    writes: dict[bytes, bytes | None] = {
        stored[0]: None,
        moved[0]: _json.dumps({"_from": "x", "_to": "c"}),
        added[0]: added[1],
    }
    with storage.snapshot() as base:
        view = OverlayView(base, writes, [adjacency_hook])
        assert _targets(view, "a") == ["d"]
        assert _targets(view, "x") == ["c"]
        assert [item.vertex for item in adjacent(view, "c", "in")] == ["x"]
        # The stored data is untouched, and a view without hooks shows it as is.
        assert _targets(OverlayView(base, writes), "a") == ["b", "c"]
    with storage.snapshot() as base:
        assert _targets(OverlayView(base, {}), "a") == ["b", "c"]


def test_documents_that_are_no_edges_derive_nothing(storage: Storage) -> None:
    key = parse_key("people:alice").storage()
    with storage.snapshot() as base:
        view = OverlayView(base, {key: b'{"name": "alice"}'}, [adjacency_hook])
        assert list(view.scan("graph")) == []
        assert view.get("docs", key) == b'{"name": "alice"}'
