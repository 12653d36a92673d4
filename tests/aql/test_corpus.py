"""Run every corpus case with and without indexes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.aql.corpus import CASES, Case, make_source
from themis import aql
from themis.aql._values import sort_key

_SOURCES = {"indexed": make_source(), "plain": make_source(indexed=False)}


def _canonical(values: list[Any]) -> list[Any]:
    return sorted(values, key=sort_key)


def run(case: Case, source: aql.MemorySource) -> list[Any]:
    """Execute a case and return its rows."""
    query = aql.compile_query(case.query)
    return list(query.execute(source, case.bind_vars))


@pytest.mark.parametrize("variant", sorted(_SOURCES))
@pytest.mark.parametrize("case", CASES, ids=[c.query[:60] for c in CASES])
def test_corpus_case(case: Case, variant: str) -> None:
    source = _SOURCES[variant]
    if case.error is not None:
        with pytest.raises(aql.AqlError) as caught:
            run(case, source)
        assert type(caught.value).__name__ == case.error
        assert str(caught.value) == case.message
        return
    result = run(case, source)
    if case.ordered:
        assert result == case.expected
    else:
        assert _canonical(result) == _canonical(case.expected)


def test_corpus_size() -> None:
    assert len(CASES) >= 200
