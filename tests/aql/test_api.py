"""The public surface of themis.aql: exports, caching, explain, budgets, laziness."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.aql.corpus import make_source
from themis import aql


class _Endless:
    """A source whose one collection never ends, to prove execution is lazy."""

    def __init__(self) -> None:
        self.inner = aql.MemorySource()

    def has_collection(self, name: str) -> bool:
        return True

    def scan(self, name: str) -> Iterator[dict[str, Any]]:
        return ({"_key": str(i), "n": i} for i in itertools.count())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_all_is_sorted_and_exported() -> None:
    assert aql.__all__ == sorted(aql.__all__)
    for name in aql.__all__:
        assert hasattr(aql, name)


def test_error_tree() -> None:
    for branch in (
        aql.AqlParseError,
        aql.AqlBindError,
        aql.AqlExecutionError,
        aql.AqlLimitError,
    ):
        assert issubclass(branch, aql.AqlError)
    assert issubclass(aql.AqlError, Exception)


def test_compile_query_is_cached() -> None:
    text = "FOR u IN users RETURN u"
    assert aql.compile_query(text) is aql.compile_query(text)
    assert aql.compile_query(text).text == text


def test_bind_parameters_lists_collection_binds_with_at() -> None:
    query = aql.compile_query("FOR u IN @@c FILTER u.a == @v RETURN (RETURN @w)")
    assert query.bind_parameters == frozenset({"@c", "v", "w"})


def test_parse_error_position() -> None:
    with pytest.raises(aql.AqlParseError) as caught:
        aql.compile_query("RETURN\n  1 +")
    assert (caught.value.line, caught.value.column) == (2, 6)
    assert isinstance(caught.value.__cause__, Exception)


def test_execution_is_lazy() -> None:
    query = aql.compile_query("FOR d IN endless FILTER d.n % 2 == 0 LIMIT 3 RETURN d.n")
    assert list(query.execute(_Endless())) == [0, 2, 4]


def test_bind_errors_raise_before_iteration() -> None:
    query = aql.compile_query("RETURN @x")
    with pytest.raises(aql.AqlBindError):
        query.execute(make_source())


def test_explain_shows_index_use() -> None:
    query = aql.compile_query("FOR u IN users FILTER u.age > @a SORT u.age RETURN u")
    plan = query.explain(make_source(), {"a": 20})
    assert plan["indexes"] == [{"field": "age", "use": "range"}]
    assert plan["nodes"][0]["type"] == "IndexScan"
    assert plan["nodes"][2] == {"type": "Sort", "strategy": "index order"}
    plain = query.explain(make_source(indexed=False), {"a": 20})
    assert plain["indexes"] == []
    assert plain["nodes"][0]["type"] == "EnumerateCollection"


def test_explain_equality_index_for_join() -> None:
    text = "FOR u IN users FOR o IN orders FILTER o.user == u.name RETURN o"
    plan = aql.compile_query(text).explain(make_source())
    assert plan["indexes"] == [{"field": "user", "use": "equality"}]


def test_memory_budget() -> None:
    query = aql.compile_query("FOR x IN 1..100 SORT x DESC RETURN x")
    with pytest.raises(aql.AqlLimitError) as caught:
        list(query.execute(make_source(), budget=aql.Budget(max_rows=10)))
    assert str(caught.value) == "query exceeded the memory budget of 10 rows"


def test_time_budget() -> None:
    query = aql.compile_query("FOR a IN endless FILTER a.n < 0 RETURN a")
    with pytest.raises(aql.AqlLimitError) as caught:
        list(query.execute(_Endless(), budget=aql.Budget(max_seconds=0.05)))
    assert str(caught.value) == "query exceeded the time budget of 0.05 s"


def test_a_renewed_deadline_lets_a_paused_execution_go_on() -> None:
    query = aql.compile_query("FOR x IN 1..5000 RETURN x")
    budget = aql.Budget(max_seconds=0.05)

    def first_and_rest(deadline: aql.Deadline, renew: bool) -> int:
        rows = query.execute(make_source(), budget=budget, deadline=deadline)
        next(rows)
        time.sleep(0.1)
        if renew:
            deadline.renew()
        return 1 + sum(1 for _ in rows)

    assert first_and_rest(aql.Deadline(0.05), renew=True) == 5000
    with pytest.raises(aql.AqlLimitError, match=r"time budget of 0\.05 s"):
        first_and_rest(aql.Deadline(0.05), renew=False)


def test_memory_source_index_scan_bounds() -> None:
    source = make_source()
    low, high = aql.Bound(25), aql.Bound(35, inclusive=False)
    keys = [d["_key"] for d in source.index_scan("users", ("age",), low, high)]
    assert keys == ["bob", "alice"]
    keys = [d["_key"] for d in source.index_scan("users", ("age",), None, None, True)]
    assert keys == ["carol", "alice", "bob", "dave", "eve"]


def test_results_are_json_values() -> None:
    rows = list(
        aql.compile_query("RETURN [5, 5 * 2, 10 / 2, 1.5]").execute(make_source())
    )
    assert rows == [[5, 10, 5, 1.5]]
    assert all(type(v) is int for v in rows[0][:3])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # Each of these backtracks for hours in Python's own engine.
        ("RETURN REGEX_TEST(CONCAT(@a, '!'), '(a+)+$')", False),
        ("RETURN CONCAT(@a, '!') =~ '^(a|aa)*$'", False),
        ("RETURN LIKE(@a, '%a%a%a%a%a%a%a%a%a%a%b')", False),
        ("RETURN LIKE(CONCAT(@a, 'b'), '%a%a%a%a%a%a%a%a%a%a%b')", True),
        ("RETURN LIKE(@a, '%a_a%a%')", True),
    ],
)
def test_patterns_match_in_linear_time(query: str, expected: bool) -> None:
    rows = aql.compile_query(query).execute(aql.MemorySource({}), {"a": "a" * 20_000})
    assert list(rows) == [expected]


def test_regex_options_and_unicode() -> None:
    query = aql.compile_query("RETURN [REGEX_TEST(@t, 'ÉTÉ', true), @t =~ 'é.é']")
    assert list(query.execute(aql.MemorySource({}), {"t": "un été"})) == [[True, True]]
