"""Property tests: AQL results agree with the same computation in plain Python."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from themis import aql
from themis.aql._values import sort_key

_CITIES = ["a", "b", "c", None]
_doc = st.fixed_dictionaries(
    {
        "age": st.one_of(
            st.none(), st.integers(-5, 50), st.floats(-5, 50, allow_nan=False)
        ),
        "city": st.sampled_from(_CITIES),
        "n": st.integers(0, 3),
    }
)
_docs = st.lists(_doc, max_size=30)
_ops = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
_settings = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _source(docs: list[dict[str, Any]], indexed: bool) -> aql.MemorySource:
    keyed = [{"_key": f"k{i:03d}", **doc} for i, doc in enumerate(docs)]
    source = aql.MemorySource({"docs": keyed})
    if indexed:
        source.add_index("docs", ("age",), "range")
        source.add_index("docs", ("city",), "hash")
    return source


def _compare(op: str, left: Any, right: Any) -> bool:
    a, b = sort_key(left), sort_key(right)
    return {
        "==": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]


def _run(text: str, source: aql.MemorySource, **binds: Any) -> list[Any]:
    return list(aql.compile_query(text).execute(source, binds))


@_settings
@given(
    _docs,
    _ops,
    st.integers(-5, 50),
    st.booleans(),
    st.integers(0, 5),
    st.integers(0, 10),
)
def test_filter_sort_limit_matches_python(
    docs: list[dict[str, Any]], op: str, bound: int, desc: bool, offset: int, count: int
) -> None:
    direction = "DESC" if desc else "ASC"
    text = (
        f"FOR d IN docs FILTER d.age {op} @bound SORT d.age {direction}, d._key "
        "LIMIT @offset, @count RETURN d._key"
    )
    keyed = [{"_key": f"k{i:03d}", **doc} for i, doc in enumerate(docs)]
    kept = [d for d in keyed if _compare(op, d["age"], bound)]
    kept.sort(key=lambda d: d["_key"])
    kept.sort(key=lambda d: sort_key(d["age"]), reverse=desc)
    expected = [d["_key"] for d in kept][offset : offset + count]
    for indexed in (False, True):
        result = _run(
            text, _source(docs, indexed), bound=bound, offset=offset, count=count
        )
        assert result == expected


@_settings
@given(_docs, st.sampled_from(_CITIES), _ops, st.integers(-5, 50))
def test_index_never_changes_results(
    docs: list[dict[str, Any]], city: str | None, op: str, bound: int
) -> None:
    queries = [
        f"FOR d IN docs FILTER d.city == @city AND d.age {op} @bound RETURN d._key",
        f"FOR d IN docs FILTER d.age {op} @bound SORT d.n RETURN d._key",
        "FOR d IN docs FILTER d.city == @city SORT d.age DESC LIMIT 3 RETURN d._key",
        "FOR d IN docs SORT d.age DESC RETURN [d.age, d.city]",
    ]
    for text in queries:
        binds: dict[str, Any] = {"city": city, "bound": bound}
        query = aql.compile_query(text)
        binds = {k: v for k, v in binds.items() if k in query.bind_parameters}
        plain = list(query.execute(_source(docs, False), binds))
        indexed = list(query.execute(_source(docs, True), binds))
        assert indexed == plain


@_settings
@given(_docs)
def test_collect_matches_python(docs: list[dict[str, Any]]) -> None:
    text = (
        "FOR d IN docs COLLECT city = d.city AGGREGATE n = COUNT(), total = SUM(d.n), "
        "top = MAX(d.age) RETURN [city, n, total, top]"
    )
    groups: dict[Any, list[dict[str, Any]]] = {}
    for doc in docs:
        groups.setdefault(doc["city"], []).append(doc)
    expected = []
    for city in sorted(groups, key=sort_key):
        members = groups[city]
        ages = [d["age"] for d in members if d["age"] is not None]
        top = max(ages, key=sort_key) if ages else None
        expected.append([city, len(members), sum(d["n"] for d in members), top])
    assert _run(text, _source(docs, False)) == expected


@_settings
@given(_docs)
def test_distinct_matches_python(docs: list[dict[str, Any]]) -> None:
    result = _run("FOR d IN docs RETURN DISTINCT d.n", _source(docs, True))
    assert sorted(result) == sorted({d["n"] for d in docs})


_fragments = st.sampled_from(
    [
        "FOR", "x", "IN", "users", "FILTER", "RETURN", "SORT", "LIMIT", "COLLECT", "=",
        "==", "(", ")", "[", "]", "{", "}", ",", ".", "..", "1", "'s'", "@p", "@@c",
        "AND", "NOT", "?", ":", "*", "[*]", "LET", "INTO", "WITH", "COUNT", "OUTBOUND",
        "GRAPH", "SHORTEST_PATH", "TO", "/*", "*/", "//", "\n", "`q`", "DISTINCT",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_fragments, max_size=14).map(" ".join))
def test_parser_only_raises_aql_errors_on_token_soup(text: str) -> None:
    with contextlib.suppress(aql.AqlError):
        aql.compile_query(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_parser_only_raises_parse_errors_on_random_text(text: str) -> None:
    try:
        aql.compile_query(text)
    except aql.AqlParseError as error:
        assert error.line >= 1 and error.column >= 1
    except aql.AqlError:
        pass


def _like_reference(text: str, pattern: str) -> bool:
    """LIKE by dynamic programming over (text position, pattern token)."""
    tokens: list[str | None] = []  # None: '%', '' : '_', else a literal char
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            tokens.append(next(chars, "\\"))
        elif char == "%":
            tokens.append(None)
        elif char == "_":
            tokens.append("")
        else:
            tokens.append(char)
    reachable = {0}
    for token in tokens:
        if token is None:
            reachable = (
                set(range(min(reachable), len(text) + 1)) if reachable else set()
            )
        else:
            reachable = {
                i + 1
                for i in reachable
                if i < len(text) and (token == "" or text[i] == token)
            }
    return len(text) in reachable


_like_text = st.text(alphabet="ab%_\\\n", max_size=12)


@_settings
@given(text=st.text(alphabet="ab%_\n", max_size=12), pattern=_like_text)
def test_like_matches_a_reference_matcher(text: str, pattern: str) -> None:
    query = aql.compile_query("RETURN LIKE(@text, @pattern)")
    got = list(query.execute(aql.MemorySource({}), {"text": text, "pattern": pattern}))
    assert got == [_like_reference(text, pattern)]
