"""Filling a vector index from storage while writes keep committing."""

from __future__ import annotations

import numpy as np
import pytest

from themis.server import vector_index
from themis.server.errors import Unavailable
from themis.server.vector_index import VectorIndex
from themis.server.vector_spec import IndexSpec, Matrix


def _row(*values: float) -> Matrix:
    return np.asarray([values], dtype=np.float32)


def test_committed_writes_win_over_the_stored_versions_being_filled() -> None:
    index = VectorIndex(IndexSpec("default", "c", 2, metric="l2"))
    index.apply([(b"moved", _row(5.0, 5.0), {"v": 2})], [b"gone"])

    index.fill(
        [
            (b"moved", _row(0.0, 0.0), {"v": 1}),
            (b"gone", _row(1.0, 1.0), {}),
            (b"kept", _row(2.0, 2.0), {}),
        ]
    )
    index.mark_ready()

    hits = index.search(_row(5.0, 5.0), 3)
    assert [(hit.key, hit.distance) for hit in hits] == [
        (b"moved", 0.0),
        (b"kept", 18.0),
    ]


def test_searches_wait_for_the_fill_then_give_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(vector_index, "READY_WAIT_SECONDS", 0.01)
    index = VectorIndex(IndexSpec("default", "slow", 2))

    with pytest.raises(Unavailable) as caught:
        index.search(_row(1.0, 0.0), 1)

    assert caught.value.message == (
        "the vector index of 'slow' is still being built from 0 stored vectors "
        "so far; retry shortly"
    )
    index.mark_ready()
    assert index.search(_row(1.0, 0.0), 1) == []
