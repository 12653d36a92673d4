# ruff: noqa: E501 -- query strings are data; wrapping them would hide the AQL.
"""Table-driven AQL cases over `tests.aql.dataset`, reusable by server tests.

Each `Case` holds a query, its bind variables and either the exact expected
result or the expected error (class name and exact message). `ordered` says
whether the result order is defined (SORT, COLLECT, or no collection loop);
otherwise compare results as multisets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.aql.dataset import (
    CITIES,
    COLLECTIONS,
    GRAPHS,
    INDEXES,
    KNOWS,
    ORDERS,
    USERS,
    make_source,
)

__all__ = [
    "CASES",
    "CITIES",
    "COLLECTIONS",
    "GRAPHS",
    "INDEXES",
    "KNOWS",
    "ORDERS",
    "USERS",
    "Case",
    "make_source",
]


@dataclass(frozen=True)
class Case:
    """One corpus entry.

    Attributes:
        query: The AQL text.
        expected: The exact result list (ignored when `error` is set).
        bind_vars: Bind parameter values.
        ordered: Whether the order of `expected` is defined.
        error: Expected exception class name, e.g. ``"AqlParseError"``.
        message: Expected ``str(error)``.
    """

    query: str
    expected: list[Any] = field(default_factory=list)
    bind_vars: dict[str, Any] = field(default_factory=dict)
    ordered: bool = True
    error: str | None = None
    message: str | None = None


def _defined_order(query: str) -> bool:
    text = query.upper()
    return (
        "SORT" in text
        or "COLLECT" in text
        or (
            " IN USERS" not in text
            and (" IN ORDERS" not in text and " IN CITIES" not in text)
        )
    )


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def ok(query: str, expected: list[Any], binds: dict[str, Any] | None = None) -> Case:
    """Return a case expecting `expected`."""
    return Case(query, expected, binds or {}, _defined_order(query))


def fails(
    query: str, error: str, message: str, binds: dict[str, Any] | None = None
) -> Case:
    """Return a case expecting an `error` with exactly `message`."""
    return Case(query, [], binds or {}, True, error, message)


NAMES = ["Alice", "Bob", "Carol", "Dave", "Eve"]

BASICS = [
    ok("RETURN 1", [1]),
    ok("RETURN 1 + 2 * 3", [7]),
    ok("RETURN (1 + 2) * 3", [9]),
    ok("RETURN 7 / 2", [3.5]),
    ok("RETURN 8 / 2", [4]),
    ok("RETURN 7 % 3", [1]),
    ok("RETURN -7 % 3", [-1]),
    ok("RETURN 5.5 % 2", [1.5]),
    ok("RETURN -(3)", [-3]),
    ok("RETURN - -3", [3]),
    ok("RETURN 1.5e2", [150.0]),
    ok("RETURN 'it''s'" if False else "RETURN 'it\\'s'", ["it's"]),
    ok('RETURN "tab\\there"', ["tab\there"]),
    ok('RETURN "\\u00e9"', ["é"]),
    ok('RETURN "\\ud83d\\ude00"', ["\U0001f600"]),
    ok("RETURN [POW(2, 100000), POW(2, 1023) > 0, POW(-2, 3)]", [[None, True, -8]]),
    ok(
        "RETURN [SUM([@big, 1]), SUM([@big, 1.5]), AVG([@big]), @big * 2, @big > 1]",
        [[None, None, None, None, True]],
        {"big": 10**400},
    ),
    ok("RETURN [SUM([1e308, 1e308]), AVG([1e308, 1e308]), 1e308 * 10]", [[None] * 3]),
    ok("FOR x IN [1, 2] LIMIT 1e300 RETURN x", [1, 2]),
    ok("FOR i IN 1..1e15 LIMIT 2, 3 RETURN i", [3, 4, 5]),
    ok("FOR i IN 3..1 RETURN i", [3, 2, 1]),
    ok("RETURN " + "[" * 124 + "1" + "]" * 124, [_nested(124)]),
    ok("RETURN null", [None]),
    ok("RETURN true", [True]),
    ok("RETURN TRUE AND FALSE", [False]),
    ok("return [1, 'a', null, [2]]", [[1, "a", None, [2]]]),
    ok("RETURN {a: 1, 'b c': 2, \"d\": [3]}", [{"a": 1, "b c": 2, "d": [3]}]),
    ok("LET k = 'x' RETURN {[k]: 1, [CONCAT(k, 'y')]: 2}", [{"x": 1, "xy": 2}]),
    ok("LET city = 'Rome' LET n = 3 RETURN {city, n}", [{"city": "Rome", "n": 3}]),
    ok("RETURN 1..4", [[1, 2, 3, 4]]),
    ok("RETURN 3..1", [[3, 2, 1]]),
    ok("RETURN [10, 20, 30][0]", [10]),
    ok("RETURN [10, 20, 30][-1]", [30]),
    ok("RETURN [10, 20, 30][5]", [None]),
    ok("RETURN {a: {b: 2}}.a.b", [2]),
    ok('RETURN {a: {b: 2}}["a"]["b"]', [2]),
    ok("RETURN {a: 1}.missing.deeper", [None]),
    ok("RETURN [{x: 1}, {x: 2}, {y: 3}][*].x", [[1, 2, None]]),
    ok("RETURN [[1, 2], [3, [4]]][**]", [[1, 2, 3, [4]]]),
    ok("RETURN [{t: [1, 2]}, {t: [3]}][*].t[**]", [[1, 2, 3]]),
    ok("RETURN [{a: {b: 1}}, {a: {b: 2}}][*].a.b", [[1, 2]]),
    ok("RETURN 'x' ? 1 : 2", [1]),
    ok("RETURN '' ? 1 : 2", [2]),
    ok("RETURN null ?: 'fallback'", ["fallback"]),
    ok("RETURN 'given' ?: 'fallback'", ["given"]),
    ok("RETURN 1 || 0", [1]),
    ok("RETURN 0 || 'b'", ["b"]),
    ok("RETURN 1 && 'b'", ["b"]),
    ok("RETURN null && 'b'", [None]),
    ok("RETURN !true", [False]),
    ok("RETURN NOT []", [False]),
    ok("RETURN NOT 0", [True]),
    ok("// comment\nRETURN /* inline */ 42 // trailing", [42]),
    ok("LET `for` = 5 RETURN `for`", [5]),
    ok("RETURN {filter: 1, count: 2}.filter", [1]),
    ok("RETURN (RETURN 5)", [[5]]),
    ok("RETURN (FOR x IN [1, 2] RETURN x * 10)", [[10, 20]]),
    ok("RETURN [1, 2,]", [[1, 2]]),
]

COMPARISONS = [
    ok("RETURN 1 == 1.0", [True]),
    ok("RETURN 1 == '1'", [False]),
    ok("RETURN null == false", [False]),
    ok("RETURN null < false", [True]),
    ok("RETURN false < 0", [True]),
    ok("RETURN 100 < 'a'", [True]),
    ok("RETURN 'z' < []", [True]),
    ok("RETURN [] < {}", [True]),
    ok("RETURN [1, 2] < [1, 3]", [True]),
    ok("RETURN [1] == [1, null]", [True]),
    ok("RETURN {a: 1} == {a: 1}", [True]),
    ok("RETURN {a: 1} != {a: 2}", [True]),
    ok("RETURN 'abc' < 'abd'", [True]),
    ok("RETURN 2 >= 2 AND 3 > 2 AND 1 <= 1", [True]),
    ok("RETURN 2 IN [1, 2, 3]", [True]),
    ok("RETURN 2 IN 'not an array'", [False]),
    ok("RETURN 4 NOT IN [1, 2, 3]", [True]),
    ok("RETURN 'abc' LIKE 'a%'", [True]),
    ok("RETURN 'abc' LIKE 'a_c'", [True]),
    ok("RETURN 'abc' LIKE 'A%'", [False]),
    ok("RETURN 'a%c' LIKE 'a\\\\%c'", [True]),
    ok("RETURN 'abc' LIKE 'a\\\\%c'", [False]),
    ok("RETURN 'abc' NOT LIKE 'x%'", [True]),
    ok("RETURN 'hello world' =~ '^hel+o'", [True]),
    ok("RETURN 'hello' !~ '[0-9]'", [True]),
    ok("RETURN [1, 2, 3] ANY == 2", [True]),
    ok("RETURN [1, 2, 3] ALL > 0", [True]),
    ok("RETURN [1, 2, 3] NONE > 2", [False]),
    ok("RETURN [] ALL == 1", [True]),
    ok("RETURN [1, 2] ALL IN [1, 2, 3]", [True]),
    ok("RETURN [1, 4] ANY NOT IN [1, 2]", [True]),
    ok("RETURN 1 + 1 == 2 ? 'yes' : 'no'", ["yes"]),
]

CASTING = [
    ok("RETURN null + 1", [1]),
    ok("RETURN true + true", [2]),
    ok("RETURN '5' + 1", [6]),
    ok("RETURN 'x' + 1", [1]),
    ok("RETURN [7] * 2", [14]),
    ok("RETURN {} - 1", [-1]),
    ok("RETURN -'3'", [-3]),
    ok("RETURN 0.1 + 0.2 > 0.3", [True]),
]

LOOPS = [
    ok("FOR u IN users RETURN u.name", NAMES),
    ok("FOR x IN [3, 1, 2] RETURN x", [3, 1, 2]),
    ok("FOR x IN 1..3 RETURN x * x", [1, 4, 9]),
    ok(
        "FOR x IN [1, 2] FOR y IN ['a', 'b'] RETURN CONCAT(x, y)",
        ["1a", "1b", "2a", "2b"],
    ),
    ok("FOR u IN users FILTER u.city == 'Berlin' RETURN u.name", ["Alice", "Carol"]),
    ok(
        "FOR u IN users FILTER u.age >= 18 AND u.active RETURN u.name",
        ["Alice", "Carol"],
    ),
    ok("FOR u IN users FILTER u.age < 20 RETURN u.name", ["Dave", "Eve"]),
    ok("FOR u IN users FILTER u.age == null RETURN u.name", ["Eve"]),
    ok(
        "FOR u IN users FILTER u.city == 'Munich' OR u.age > 32 RETURN u.name",
        ["Carol", "Dave"],
    ),
    ok("FOR u IN users FILTER !u.active RETURN u.name", ["Bob"]),
    ok("FOR u IN users FILTER NOT (u.age > 20) RETURN u.name", ["Dave", "Eve"]),
    ok(
        "FOR u IN users FILTER u.city IN ['Munich', 'Hamburg'] RETURN u.name",
        ["Bob", "Dave", "Eve"],
    ),
    ok(
        "FOR u IN users FILTER u.city NOT IN ['Munich', 'Hamburg'] RETURN u.name",
        ["Alice", "Carol"],
    ),
    ok("FOR u IN users FILTER u.name LIKE '%a%' RETURN u.name", ["Carol", "Dave"]),
    ok("FOR u IN users FILTER u.name =~ '^[AE]' RETURN u.name", ["Alice", "Eve"]),
    ok("FOR u IN users FILTER 'dev' IN u.tags RETURN u.name", ["Alice", "Bob", "Dave"]),
    ok("FOR u IN users FILTER u.tags ANY == 'ops' RETURN u.name", ["Dave", "Eve"]),
    ok("FOR u IN users FILTER u.scores ALL >= 4 RETURN u.name", ["Carol", "Dave"]),
    ok(
        "FOR u IN users FILTER u.address.zip LIKE '101%' RETURN u.name",
        ["Alice", "Carol"],
    ),
    ok("FOR u IN users FILTER u.email RETURN u.email", ["eve@example.com"]),
    ok(
        "FOR u IN users FILTER HAS(u, 'address') == false RETURN u.name",
        ["Dave", "Eve"],
    ),
    ok(
        "FOR u IN users FILTER u.active FILTER u.age > 20 RETURN u.name",
        ["Alice", "Carol"],
    ),
    ok("FOR u IN users FILTER u.age > 100 RETURN u", []),
    ok("FOR u IN users FILTER 30 == u.age RETURN u._key", ["alice"]),
    ok("FOR u IN users FILTER 26 > u.age RETURN u._key", ["bob", "dave", "eve"]),
    ok(
        "FOR u IN users FILTER u.age > 20 AND u.age < 33 RETURN u._key",
        ["alice", "bob"],
    ),
    ok(
        "FOR u IN users FILTER u.age >= 25 AND u.age <= 30 RETURN u._key",
        ["alice", "bob"],
    ),
    ok("FOR u IN users FILTER u._id == 'users:carol' RETURN u.name", ["Carol"]),
    ok("FOR u IN users FILTER u._key == 'bob' RETURN u.name", ["Bob"]),
    ok(
        "FOR u IN users LET n = LENGTH(u.tags) FILTER n > 1 RETURN {name: u.name, n}",
        [{"name": "Alice", "n": 2}, {"name": "Dave", "n": 2}],
    ),
    ok(
        "FOR u IN users LET c = u.city FILTER c == 'Hamburg' RETURN {name: u.name, city: c}",
        [{"name": "Bob", "city": "Hamburg"}, {"name": "Eve", "city": "Hamburg"}],
    ),
    ok(
        "FOR u IN users LET n = u.age + 1 FILTER u.city == 'Munich' RETURN {name: u.name, n: n}",
        [{"name": "Dave", "n": 18}],
    ),
    ok(
        "FOR u IN users FILTER u.city == 'Berlin' RETURN {name: u.name, next: u.age + 1}",
        [{"name": "Alice", "next": 31}, {"name": "Carol", "next": 36}],
    ),
    ok(
        "FOR u IN users FILTER u.city == 'Berlin' FOR o IN orders FILTER o.user == u.name RETURN o._key",
        ["o1", "o2", "o3"],
    ),
    ok(
        "FOR u IN users FOR o IN orders FILTER u.name == o.user AND o.status == 'shipped' RETURN o._key",
        ["o1", "o3", "o5"],
    ),
    ok(
        "FOR o IN orders FOR u IN users FILTER u.name == o.user FILTER u.age < 30 RETURN [o._key, u._key]",
        [["o4", "bob"], ["o5", "dave"]],
    ),
    ok(
        "FOR u IN users FOR c IN cities FILTER c.name == u.city RETURN {u: u.name, pop: c.population}",
        [
            {"u": "Alice", "pop": 3645000},
            {"u": "Bob", "pop": 1841000},
            {"u": "Carol", "pop": 3645000},
            {"u": "Dave", "pop": 1472000},
            {"u": "Eve", "pop": 1841000},
        ],
    ),
    ok("FOR c IN cities FILTER c.country != 'DE' RETURN c.name", ["Paris"]),
    ok(
        "FOR c IN cities FILTER c.population > 2000000 RETURN c.name",
        ["Berlin", "Paris"],
    ),
    ok(
        "FOR u IN users FILTER u.age > 20 LET o = (FOR o IN orders FILTER o.user == u.name RETURN o.amount) RETURN {n: u.name, total: SUM(o)}",
        [
            {"n": "Alice", "total": 150},
            {"n": "Bob", "total": 20.5},
            {"n": "Carol", "total": 75},
        ],
    ),
    ok(
        "FOR u IN users FILTER u.name == 'Alice' FOR t IN u.tags RETURN t",
        ["admin", "dev"],
    ),
    ok(
        "FOR u IN users FILTER u.name == 'Bob' FOR s IN u.scores FILTER s > 1 RETURN s",
        [2],
    ),
]

SORTING = [
    ok(
        "FOR u IN users SORT u.age RETURN u.name",
        ["Eve", "Dave", "Bob", "Alice", "Carol"],
    ),
    ok(
        "FOR u IN users SORT u.age DESC RETURN u.name",
        ["Carol", "Alice", "Bob", "Dave", "Eve"],
    ),
    ok("FOR u IN users SORT u.age DESC LIMIT 2 RETURN u.name", ["Carol", "Alice"]),
    ok("FOR u IN users SORT u.age ASC LIMIT 1, 2 RETURN u.name", ["Dave", "Bob"]),
    ok(
        "FOR u IN users SORT u.city, u.age DESC RETURN u.name",
        ["Carol", "Alice", "Bob", "Eve", "Dave"],
    ),
    ok(
        "FOR u IN users SORT u.city DESC, u.name RETURN u.name",
        ["Dave", "Bob", "Eve", "Alice", "Carol"],
    ),
    ok(
        "FOR u IN users SORT LENGTH(u.tags) DESC, u.name LIMIT 3 RETURN u.name",
        ["Alice", "Dave", "Bob"],
    ),
    ok(
        "FOR u IN users FILTER u.active SORT u.name DESC RETURN u.name",
        ["Eve", "Dave", "Carol", "Alice"],
    ),
    ok(
        "FOR x IN [3, null, 'a', [1], {}, false, 1.5] SORT x RETURN x",
        [None, False, 1.5, 3, "a", [1], {}],
    ),
    ok(
        "FOR x IN [3, null, 'a', [1], {}, false, 1.5] SORT x DESC RETURN x",
        [{}, [1], "a", 3, 1.5, False, None],
    ),
    ok("FOR o IN orders SORT o.amount LIMIT 2 RETURN o._key", ["o5", "o4"]),
    ok("FOR o IN orders SORT o.amount DESC LIMIT 1 RETURN o._key", ["o1"]),
    ok(
        "FOR o IN orders FILTER o.amount > 15 SORT o.amount RETURN o.amount",
        [20.5, 50, 75, 100],
    ),
    ok(
        "FOR o IN orders SORT o.status, o.amount DESC RETURN o._key",
        ["o4", "o2", "o1", "o3", "o5"],
    ),
    ok("FOR u IN users LIMIT 2 RETURN u.name", ["Alice", "Bob"]),
    ok("FOR u IN users SORT u._key LIMIT 3, 10 RETURN u.name", ["Dave", "Eve"]),
    ok("FOR u IN users SORT u._key LIMIT 0 RETURN u.name", []),
    ok("FOR u IN users SORT u._key LIMIT 4 LIMIT 1, 2 RETURN u.name", ["Bob", "Carol"]),
    ok("FOR u IN users SORT u.name LIMIT @n RETURN u.name", ["Alice", "Bob"], {"n": 2}),
    ok(
        "FOR u IN users SORT u.name LIMIT @o, @n RETURN u.name",
        ["Carol"],
        {"o": 2, "n": 1},
    ),
    ok(
        "FOR u IN users SORT u.name FILTER u.age > 20 LIMIT 2 RETURN u.name",
        ["Alice", "Bob"],
    ),
    ok("FOR x IN 1..10 SORT x DESC LIMIT 3 RETURN x", [10, 9, 8]),
    ok("FOR x IN 1..10 FILTER x % 2 == 0 SORT x DESC LIMIT 1, 2 RETURN x", [8, 6]),
    ok(
        "FOR u IN users SORT u.address.zip RETURN u._key",
        ["dave", "eve", "alice", "carol", "bob"],
    ),
]

COLLECTING = [
    ok(
        "FOR u IN users COLLECT city = u.city RETURN city",
        ["Berlin", "Hamburg", "Munich"],
    ),
    ok(
        "FOR u IN users COLLECT city = u.city WITH COUNT INTO n RETURN {city, n}",
        [
            {"city": "Berlin", "n": 2},
            {"city": "Hamburg", "n": 2},
            {"city": "Munich", "n": 1},
        ],
    ),
    ok(
        "FOR u IN users COLLECT city = u.city AGGREGATE n = COUNT(), avgAge = AVG(u.age) RETURN {city, n, avgAge}",
        [
            {"city": "Berlin", "n": 2, "avgAge": 32.5},
            {"city": "Hamburg", "n": 2, "avgAge": 25.0},
            {"city": "Munich", "n": 1, "avgAge": 17.0},
        ],
    ),
    ok(
        "FOR u IN users FILTER u.active == true COLLECT AGGREGATE total = SUM(u.age), oldest = MAX(u.age) RETURN {total, oldest}",
        [{"total": 82, "oldest": 35}],
    ),
    ok(
        "FOR u IN users COLLECT AGGREGATE youngest = MIN(u.age), n = LENGTH(1) RETURN [youngest, n]",
        [[17, 5]],
    ),
    ok("FOR u IN users COLLECT WITH COUNT INTO n RETURN n", [5]),
    ok("FOR u IN users FILTER u.age > 99 COLLECT WITH COUNT INTO n RETURN n", [0]),
    ok(
        "FOR u IN users FILTER u.age > 99 COLLECT AGGREGATE s = SUM(u.age), m = MAX(u.age) RETURN [s, m]",
        [[0, None]],
    ),
    ok("FOR u IN users FILTER u.age > 99 COLLECT c = u.city RETURN c", []),
    ok(
        "FOR u IN users COLLECT city = u.city, active = u.active RETURN [city, active]",
        [["Berlin", True], ["Hamburg", False], ["Hamburg", True], ["Munich", True]],
    ),
    ok(
        "FOR u IN users COLLECT city = u.city INTO g RETURN {city, names: g[*].u.name}",
        [
            {"city": "Berlin", "names": ["Alice", "Carol"]},
            {"city": "Hamburg", "names": ["Bob", "Eve"]},
            {"city": "Munich", "names": ["Dave"]},
        ],
    ),
    ok(
        "FOR u IN users COLLECT city = u.city INTO names = u.name RETURN {city, names}",
        [
            {"city": "Berlin", "names": ["Alice", "Carol"]},
            {"city": "Hamburg", "names": ["Bob", "Eve"]},
            {"city": "Munich", "names": ["Dave"]},
        ],
    ),
    ok(
        "FOR u IN users LET a = u.age COLLECT city = u.city INTO g KEEP a RETURN {city, g}",
        [
            {"city": "Berlin", "g": [{"a": 30}, {"a": 35}]},
            {"city": "Hamburg", "g": [{"a": 25}, {"a": None}]},
            {"city": "Munich", "g": [{"a": 17}]},
        ],
    ),
    ok(
        "FOR u IN users COLLECT city = u.city AGGREGATE tags = UNIQUE(u.tags) RETURN {city, tags}",
        [
            {"city": "Berlin", "tags": [["admin", "dev"], []]},
            {"city": "Hamburg", "tags": [["dev"], ["ops"]]},
            {"city": "Munich", "tags": [["ops", "dev"]]},
        ],
    ),
    ok(
        "FOR u IN users FOR t IN u.tags COLLECT tag = t WITH COUNT INTO n SORT n DESC, tag RETURN {tag, n}",
        [{"tag": "dev", "n": 3}, {"tag": "ops", "n": 2}, {"tag": "admin", "n": 1}],
    ),
    ok(
        "FOR u IN users FOR t IN u.tags COLLECT AGGREGATE tags = SORTED_UNIQUE(t), n = COUNT_DISTINCT(t) RETURN {tags, n}",
        [{"tags": ["admin", "dev", "ops"], "n": 3}],
    ),
    ok(
        "FOR o IN orders COLLECT status = o.status AGGREGATE total = SUM(o.amount) SORT total DESC LIMIT 2 RETURN {status, total}",
        [{"status": "shipped", "total": 185}, {"status": "pending", "total": 50}],
    ),
    ok(
        "FOR o IN orders COLLECT user = o.user AGGREGATE total = SUM(o.amount) FILTER total > 40 RETURN user",
        ["Alice", "Carol"],
    ),
    ok(
        "FOR o IN orders COLLECT user = o.user INTO g LET n = LENGTH(g) FILTER n > 1 RETURN {user, n}",
        [{"user": "Alice", "n": 2}],
    ),
    ok(
        "FOR u IN users COLLECT adult = u.age >= 18 WITH COUNT INTO n RETURN {adult, n}",
        [{"adult": False, "n": 2}, {"adult": True, "n": 3}],
    ),
    ok(
        "FOR u IN users COLLECT city = u.city SORT city DESC RETURN city",
        ["Munich", "Hamburg", "Berlin"],
    ),
    ok(
        "FOR u IN users COLLECT c = u.city WITH COUNT INTO n COLLECT size = n WITH COUNT INTO cities RETURN {size, cities}",
        [{"size": 1, "cities": 1}, {"size": 2, "cities": 2}],
    ),
    ok(
        "FOR x IN [1, 1, 2, 3, 3, 3] COLLECT v = x WITH COUNT INTO n RETURN [v, n]",
        [[1, 2], [2, 1], [3, 3]],
    ),
    ok(
        "FOR x IN [1, 2, 3, 4] COLLECT AGGREGATE a = AVERAGE(x), s = SUM(x) RETURN [a, s]",
        [[2.5, 10]],
    ),
    ok(
        "LET top = (FOR u IN users COLLECT c = u.city WITH COUNT INTO n SORT n DESC, c LIMIT 1 RETURN c) RETURN top[0]",
        ["Berlin"],
    ),
    ok("FOR u IN users RETURN DISTINCT u.city", ["Berlin", "Hamburg", "Munich"]),
    ok(
        "FOR u IN users SORT u.city DESC RETURN DISTINCT u.city",
        ["Munich", "Hamburg", "Berlin"],
    ),
    ok("FOR x IN [1, '1', 1.0, [1], [1]] RETURN DISTINCT x", [1, "1", [1]]),
]

FUNCTIONS = [
    ok("RETURN LENGTH('hello')", [5]),
    ok(
        "RETURN [LENGTH([1, 2]), LENGTH({a: 1}), LENGTH(null), COUNT([1, 2, 3])]",
        [[2, 1, 0, 3]],
    ),
    ok("RETURN CONCAT('a', 1, null, true, [2])", ["a1true[2]"]),
    ok("RETURN CONCAT(['x', 'y'])", ["xy"]),
    ok("RETURN CONCAT_SEPARATOR(', ', 'a', ['b', 'c'], null)", ["a, b, c"]),
    ok("RETURN [LOWER('AbC'), UPPER('AbC')]", [["abc", "ABC"]]),
    ok(
        "RETURN [SUBSTRING('hello', 1, 3), SUBSTRING('hello', -3), SUBSTRING('hello', 2)]",
        [["ell", "llo", "llo"]],
    ),
    ok(
        "RETURN [CONTAINS('foobar', 'oba'), CONTAINS('foobar', 'x'), CONTAINS('foobar', 'bar', true)]",
        [[True, False, 3]],
    ),
    ok(
        "RETURN [SPLIT('a,b,c', ','), SPLIT('a,b,c', ',', 2), SPLIT('abc', '')]",
        [[["a", "b", "c"], ["a", "b"], ["a", "b", "c"]]],
    ),
    ok(
        "RETURN [TRIM('  x  '), LTRIM('  x  '), RTRIM('  x  '), TRIM('--x--', '-')]",
        [["x", "x  ", "  x", "x"]],
    ),
    ok("RETURN [LEFT('hello', 2), RIGHT('hello', 3)]", [["he", "llo"]]),
    ok("RETURN [REVERSE('abc'), REVERSE([1, 2, 3])]", [["cba", [3, 2, 1]]]),
    ok("RETURN [LIKE('Hello', 'h%'), LIKE('Hello', 'h%', true)]", [[False, True]]),
    ok(
        "RETURN [REGEX_TEST('abc123', '[0-9]+$'), REGEX_TEST('ABC', 'abc', true)]",
        [[True, True]],
    ),
    ok(
        "RETURN [STARTS_WITH('foobar', 'foo'), STARTS_WITH('foobar', 'bar')]",
        [[True, False]],
    ),
    ok("RETURN [FIND_FIRST('foobarbar', 'bar'), FIND_FIRST('foo', 'x')]", [[3, -1]]),
    ok("RETURN SUBSTITUTE('the quick fox', 'quick', 'slow')", ["the slow fox"]),
    ok("RETURN SUBSTITUTE('aaa', 'a', 'b', 2)", ["bba"]),
    ok("RETURN SUBSTITUTE('ab', {a: 'x', b: 'y'})", ["xy"]),
    ok(
        "RETURN [ABS(-3), ROUND(2.5), ROUND(-2.5), FLOOR(2.7), CEIL(2.1)]",
        [[3, 3, -2, 2, 3]],
    ),
    ok("RETURN [SQRT(16), POW(2, 10), SQRT(-1)]", [[4.0, 1024, None]]),
    ok("RETURN [LOG(1), EXP(0)]", [[0.0, 1.0]]),
    ok("RETURN RAND() < 1", [True]),
    ok("RETURN [MIN([3, 1, null, 2]), MAX([3, 1, 2]), MIN([])]", [[1, 3, None]]),
    ok(
        "RETURN [SUM([1, 2, 3]), SUM([]), SUM([1.5, 1]), SUM(['a'])]",
        [[6, 0, 2.5, None]],
    ),
    ok(
        "RETURN [AVG([1, 2, 3, 4]), AVERAGE([]), MEDIAN([3, 1, 2]), MEDIAN([1, 2, 3, 4])]",
        [[2.5, None, 2, 2.5]],
    ),
    ok(
        "RETURN [FIRST([1, 2]), LAST([1, 2]), NTH([1, 2, 3], 1), FIRST([])]",
        [[1, 2, 2, None]],
    ),
    ok(
        "RETURN [UNIQUE([1, 2, 1, '1']), SORTED([3, 'a', 1]), SORTED_UNIQUE([3, 1, 3])]",
        [[[1, 2, "1"], [1, 3, "a"], [1, 3]]],
    ),
    ok(
        "RETURN [FLATTEN([1, [2, [3]]]), FLATTEN([1, [2, [3]]], 2)]",
        [[[1, 2, [3]], [1, 2, 3]]],
    ),
    ok(
        "RETURN [APPEND([1, 2], [2, 3]), APPEND([1, 2], [2, 3], true), APPEND([1], 5)]",
        [[[1, 2, 2, 3], [1, 2, 3], [1, 5]]],
    ),
    ok("RETURN [PUSH([1, 2], 2), PUSH([1, 2], 2, true)]", [[[1, 2, 2], [1, 2]]]),
    ok(
        "RETURN [POSITION([1, 2, 3], 2), POSITION([1, 2, 3], 5), POSITION([1, 2, 3], 3, true)]",
        [[True, False, 2]],
    ),
    ok(
        "RETURN [SLICE([1, 2, 3, 4], 1, 2), SLICE([1, 2, 3, 4], -2), SLICE([1, 2, 3, 4], 0, -1)]",
        [[[2, 3], [3, 4], [1, 2, 3]]],
    ),
    ok(
        "RETURN [UNION([1, 2], [2, 3]), UNION_DISTINCT([1, 2], [2, 3])]",
        [[[1, 2, 2, 3], [1, 2, 3]]],
    ),
    ok(
        "RETURN [INTERSECTION([1, 2, 3], [2, 3, 4], [3, 2]), MINUS([1, 2, 3], [2])]",
        [[[2, 3], [1, 3]]],
    ),
    ok(
        "RETURN [RANGE(1, 4), RANGE(0, 10, 5), RANGE(1, 2, 0.5)]",
        [[[1, 2, 3, 4], [0, 5, 10], [1, 1.5, 2.0]]],
    ),
    ok("RETURN KEYS({b: 1, a: 2})", [["b", "a"]]),
    ok("RETURN ATTRIBUTES({b: 1, a: 2, _k: 3}, true, true)", [["a", "b"]]),
    ok("RETURN VALUES({a: 1, b: 'x'})", [[1, "x"]]),
    ok("RETURN [HAS({a: null}, 'a'), HAS({a: 1}, 'b')]", [[True, False]]),
    ok("RETURN MERGE({a: 1, b: 2}, {b: 3, c: 4})", [{"a": 1, "b": 3, "c": 4}]),
    ok("RETURN MERGE([{a: 1}, {b: 2}])", [{"a": 1, "b": 2}]),
    ok("RETURN MERGE_RECURSIVE({a: {x: 1}}, {a: {y: 2}})", [{"a": {"x": 1, "y": 2}}]),
    ok(
        "RETURN [UNSET({a: 1, b: 2, c: 3}, 'a', 'b'), UNSET({a: 1, b: 2}, ['b'])]",
        [[{"c": 3}, {"a": 1}]],
    ),
    ok("RETURN KEEP({a: 1, b: 2, c: 3}, ['a', 'c'])", [{"a": 1, "c": 3}]),
    ok("RETURN ZIP(['a', 'b'], [1, 2])", [{"a": 1, "b": 2}]),
    ok("RETURN DOCUMENT('users:bob').name", ["Bob"]),
    ok("RETURN DOCUMENT('users', 'carol').age", [35]),
    ok(
        "RETURN DOCUMENT(['users:bob', 'users:nobody', 'users:dave'])[*].name",
        [["Bob", "Dave"]],
    ),
    ok("RETURN DOCUMENT('users:nobody')", [None]),
    ok(
        "RETURN [IS_NULL(null), IS_BOOL(false), IS_NUMBER(1.5), IS_STRING('s'), IS_ARRAY([]), IS_LIST([]), IS_OBJECT({}), IS_DOCUMENT(1)]",
        [[True, True, True, True, True, True, True, False]],
    ),
    ok(
        "RETURN [TYPENAME(null), TYPENAME(true), TYPENAME(1), TYPENAME('a'), TYPENAME([]), TYPENAME({})]",
        [["null", "bool", "number", "string", "array", "object"]],
    ),
    ok(
        "RETURN [TO_NUMBER('12'), TO_NUMBER('1.5'), TO_NUMBER('x'), TO_NUMBER(true), TO_NUMBER(null)]",
        [[12, 1.5, 0, 1, 0]],
    ),
    ok(
        "RETURN [TO_STRING(12), TO_STRING(1.5), TO_STRING(null), TO_STRING([1, 'a']), TO_STRING({a: 1})]",
        [["12", "1.5", "", '[1,"a"]', '{"a":1}']],
    ),
    ok(
        "RETURN [TO_BOOL(0), TO_BOOL('x'), TO_BOOL([]), TO_ARRAY(null), TO_ARRAY(1), TO_ARRAY({a: 2})]",
        [[False, True, True, [], [1], [2]]],
    ),
    ok(
        "RETURN [NOT_NULL(null, 2, 3), COALESCE(null, null), FIRST_DOCUMENT(1, {a: 1})]",
        [[2, None, {"a": 1}]],
    ),
    ok("RETURN DATE_NOW() > 1600000000000", [True]),
    ok("RETURN DATE_ISO8601(0)", ["1970-01-01T00:00:00.000Z"]),
    ok("RETURN DATE_TIMESTAMP('2020-01-02T00:00:00Z')", [1577923200000]),
    ok("RETURN DATE_ADD('2020-01-31', 1, 'month')", ["2020-02-29T00:00:00.000Z"]),
    ok(
        "RETURN DATE_ADD('2020-01-01T00:00:00Z', 36, 'hours')",
        ["2020-01-02T12:00:00.000Z"],
    ),
    ok("RETURN DATE_SUBTRACT('2020-03-01', 1, 'day')", ["2020-02-29T00:00:00.000Z"]),
    ok(
        "RETURN [DATE_DIFF('2020-01-01', '2021-01-01', 'd'), DATE_DIFF('2020-01-01', '2020-03-15', 'months')]",
        [[366, 2]],
    ),
    ok(
        "RETURN [DATE_YEAR('2021-07-04'), DATE_MONTH('2021-07-04'), DATE_DAY('2021-07-04')]",
        [[2021, 7, 4]],
    ),
    ok("RETURN DATE_ISO8601('not a date')", [None]),
    ok("RETURN COSINE_SIMILARITY([1, 0], [1, 0])", [1.0]),
    ok("RETURN COSINE_SIMILARITY([1, 0], [0, 1])", [0.0]),
    ok("RETURN L2_DISTANCE([0, 0], [3, 4])", [5.0]),
    ok("RETURN lower('MiXeD')", ["mixed"]),
    ok(
        "FOR u IN users SORT u.name LIMIT 2 RETURN CONCAT(u.name, ' (', u.city, ')')",
        ["Alice (Berlin)", "Bob (Hamburg)"],
    ),
    ok("FOR u IN users FILTER CONTAINS(u.email, '@') RETURN u.name", ["Eve"]),
    ok(
        "FOR u IN users SORT u.name RETURN LENGTH(u.scores) ? AVG(u.scores) : null",
        [4.0, 2.0, 5.0, None, 2.5],
    ),
]

BINDS = [
    ok(
        "FOR u IN users FILTER u.age > @min SORT u.age RETURN u.name",
        ["Alice", "Carol"],
        {"min": 26},
    ),
    ok(
        "FOR u IN @@coll SORT u._key LIMIT 1 RETURN u._key",
        ["berlin"],
        {"@coll": "cities"},
    ),
    ok(
        "FOR u IN users FILTER u.city IN @cities SORT u.name RETURN u.name",
        ["Bob", "Dave", "Eve"],
        {"cities": ["Munich", "Hamburg"]},
    ),
    ok("RETURN @obj.a.b", [5], {"obj": {"a": {"b": 5}}}),
    ok("RETURN {[@k]: @v}", [{"x": [1]}], {"k": "x", "v": [1]}),
    ok("FOR u IN users FILTER u.name == @name RETURN u.age", [25], {"name": "Bob"}),
    ok("FOR x IN @list RETURN x + 1", [2, 3], {"list": [1, 2]}),
    fails(
        "RETURN @x",
        "AqlBindError",
        "no value specified for declared bind parameter 'x'",
    ),
    fails(
        "RETURN 1",
        "AqlBindError",
        "bind parameter 'x' was not declared in the query",
        {"x": 1},
    ),
    fails(
        "FOR u IN @@c RETURN u",
        "AqlBindError",
        "bind parameter '@c' must be a collection name string, got 5",
        {"@c": 5},
    ),
    fails(
        "FOR u IN @@c RETURN u",
        "AqlBindError",
        "no value specified for declared bind parameter '@c'",
    ),
    fails(
        "FOR x IN @list RETURN x",
        "AqlExecutionError",
        "FOR expects an array, got a value of type string",
        {"list": "abc"},
    ),
]

GRAPH = [
    ok("FOR v IN 1..1 OUTBOUND 'users:alice' knows RETURN v.name", ["Bob", "Dave"]),
    ok("FOR v IN OUTBOUND 'users:alice' knows RETURN v._key", ["bob", "dave"]),
    ok(
        "FOR v IN 1..2 OUTBOUND 'users:alice' GRAPH 'social' RETURN v.name",
        ["Bob", "Carol", "Dave", "Eve"],
    ),
    ok(
        "FOR v IN 1..2 OUTBOUND 'users:alice' knows OPTIONS {bfs: true} RETURN v.name",
        ["Bob", "Dave", "Carol", "Eve"],
    ),
    ok(
        "FOR v IN 0..1 OUTBOUND 'users:alice' knows RETURN v.name",
        ["Alice", "Bob", "Dave"],
    ),
    ok(
        "FOR v, e IN 1..1 OUTBOUND 'users:alice' GRAPH 'social' FILTER e._type == 'mentors' RETURN e._key",
        ["e3"],
    ),
    ok(
        "FOR v, e, p IN 2..2 OUTBOUND 'users:alice' knows RETURN p.vertices[*].name",
        [["Alice", "Bob", "Carol"], ["Alice", "Dave", "Eve"]],
    ),
    ok(
        "FOR v, e, p IN 2..2 OUTBOUND 'users:alice' knows RETURN p.edges[*]._key",
        [["e1", "e2"], ["e3", "e5"]],
    ),
    ok(
        "FOR v IN 1..1 INBOUND 'users:dave' knows SORT v.name RETURN v.name",
        ["Alice", "Carol"],
    ),
    ok(
        "FOR v IN 1..1 ANY 'users:bob' knows SORT v.name RETURN v.name",
        ["Alice", "Carol"],
    ),
    ok(
        "FOR u IN users FILTER u.name == 'Bob' FOR v IN 1..1 OUTBOUND u knows RETURN v.name",
        ["Carol"],
    ),
    ok(
        "FOR v IN 1..5 OUTBOUND 'users:carol' knows RETURN v ? v.name : 'missing'",
        ["Dave", "Eve", "missing"],
    ),
    ok(
        "FOR v, e, p IN 1..5 OUTBOUND 'users:alice' knows PRUNE v.name == 'Dave' FILTER v.name == 'Dave' RETURN LENGTH(p.edges)",
        [3, 1],
    ),
    ok(
        "FOR v, e, p IN 1..3 OUTBOUND 'users:alice' knows FILTER p.edges[*]._type ALL == 'knows' RETURN v.name",
        ["Bob", "Carol", "Dave"],
    ),
    ok(
        "FOR v, e, p IN 1..4 OUTBOUND 'users:alice' knows OPTIONS {uniqueVertices: 'global', bfs: true} RETURN v._key",
        ["bob", "dave", "carol", "eve", None],
    ),
    ok("FOR v IN 1..2 OUTBOUND 'users:nobody' knows RETURN v", []),
    ok("FOR v IN 2 OUTBOUND 'users:alice' knows RETURN v._key", ["carol", "eve"]),
    ok(
        "FOR v IN 1..@d OUTBOUND @start @@edges RETURN v._key",
        ["bob", "dave"],
        {"d": 1, "start": "users:alice", "@edges": "knows"},
    ),
    ok(
        "FOR v IN 1..1 OUTBOUND 'users:alice' knows COLLECT WITH COUNT INTO n RETURN n",
        [2],
    ),
    ok(
        "FOR v, e IN OUTBOUND SHORTEST_PATH 'users:alice' TO 'users:eve' knows RETURN [v._key, e._key]",
        [["alice", None], ["dave", "e3"], ["eve", "e5"]],
    ),
    ok(
        "FOR v, e IN OUTBOUND SHORTEST_PATH 'users:alice' TO 'users:eve' knows OPTIONS {weightAttribute: 'w'} RETURN v._key",
        ["alice", "bob", "carol", "dave", "eve"],
    ),
    ok(
        "FOR v IN ANY SHORTEST_PATH 'users:eve' TO 'users:bob' GRAPH 'social' RETURN v._key",
        ["eve", "dave", "alice", "bob"],
    ),
    ok(
        "FOR v IN OUTBOUND SHORTEST_PATH 'users:eve' TO 'users:alice' knows RETURN v",
        [],
    ),
    ok(
        "FOR v IN OUTBOUND SHORTEST_PATH 'users:bob' TO 'users:bob' knows RETURN v._key",
        ["bob"],
    ),
    ok(
        "FOR p IN OUTBOUND K_SHORTEST_PATHS 'users:alice' TO 'users:dave' knows RETURN {v: p.vertices[*]._key, w: p.weight}",
        [
            {"v": ["alice", "dave"], "w": 1},
            {"v": ["alice", "bob", "carol", "dave"], "w": 3},
        ],
    ),
    ok(
        "FOR p IN OUTBOUND K_SHORTEST_PATHS 'users:alice' TO 'users:dave' knows OPTIONS {weightAttribute: 'w'} LIMIT 1 RETURN p.weight",
        [4],
    ),
    fails(
        "FOR v IN 1..2 OUTBOUND 'users:alice' GRAPH 'nope' RETURN v",
        "AqlExecutionError",
        "graph 'nope' not found",
    ),
    fails(
        "FOR v IN 1..2 OUTBOUND 'users:alice' nothere RETURN v",
        "AqlExecutionError",
        "collection or view not found: 'nothere'",
    ),
    fails(
        "FOR v IN 1..2 OUTBOUND 42 knows RETURN v",
        "AqlExecutionError",
        "start vertex must be a document _id string or a document, got a value of type number",
    ),
]

ERRORS = [
    fails(
        "RETURN LENGTH(1..2000000)",
        "AqlExecutionError",
        "range of 2000000 elements is too large; expected at most 1000000 "
        "(FOR x IN low..high walks a range of any length without holding it)",
    ),
    fails(
        'RETURN "\\ud800"',
        "AqlParseError",
        "AQL parse error: string holds the lone UTF-16 surrogate \\ud800; expected a "
        "high surrogate (\\ud800-\\udbff) followed by a low one (\\udc00-\\udfff), "
        "or any other character at line 1, column 8",
    ),
    fails(
        "RETURN 1e309",
        "AqlParseError",
        "AQL parse error: number 1e309 is out of range; expected a finite number of "
        "magnitude at most 1.79769e+308 at line 1, column 8",
    ),
    fails(
        "RETURN " + "9" * 4001,
        "AqlParseError",
        "AQL parse error: integer of 4001 digits; expected at most 4000 digits "
        "at line 1, column 8",
    ),
    fails(
        "RETURN " + "[" * 125 + "1" + "]" * 125,
        "AqlParseError",
        "AQL parse error: expressions nest more than 128 levels deep; expected at "
        "most 128 at line 1, column 133",
    ),
    fails(
        "RETURN 1" + " + 1" * 200,
        "AqlParseError",
        "AQL parse error: expressions nest more than 128 levels deep; expected at "
        "most 128 at line 1, column 312",
    ),
    fails(
        "FOR u IN users FILTER u.x = 1 RETURN u",
        "AqlParseError",
        "AQL parse error: unexpected '=' at line 1, column 27",
    ),
    fails(
        "FOR u IN",
        "AqlParseError",
        "AQL parse error: unexpected end of query, expected ANY or INBOUND or OUTBOUND or expression at line 1, column 9",
    ),
    fails(
        "FOR u IN users\n  FILTER (u.x\n  RETURN u",
        "AqlParseError",
        "AQL parse error: unexpected 'RETURN', expected ) at line 3, column 3",
    ),
    fails(
        "RETURN 1 # 2",
        "AqlParseError",
        "AQL parse error: unexpected character '#' at line 1, column 10",
    ),
    fails(
        'RETURN "open',
        "AqlParseError",
        "AQL parse error: unexpected character '\"', expected expression at line 1, column 8",
    ),
    fails(
        "FOR u IN users",
        "AqlParseError",
        "AQL parse error: unexpected end of query at line 1, column 15",
    ),
    fails(
        "FOR u IN users RETURN u FILTER u",
        "AqlParseError",
        "AQL parse error: unexpected 'FILTER', expected ) or end of query at line 1, column 25",
    ),
    fails(
        "",
        "AqlParseError",
        "AQL parse error: unexpected end of query at line 1, column 1",
    ),
    fails("RETURN FOO(1)", "AqlExecutionError", "unknown function 'FOO()'"),
    fails(
        "RETURN SUBSTRING('a')",
        "AqlExecutionError",
        "invalid number of arguments for function 'SUBSTRING()': expected 2 to 3, got 1",
    ),
    fails(
        "RETURN LENGTH()",
        "AqlExecutionError",
        "invalid number of arguments for function 'LENGTH()': expected 1, got 0",
    ),
    fails("FOR u IN users RETURN x", "AqlExecutionError", "unknown variable 'x'"),
    fails(
        "FOR u IN nothere RETURN u",
        "AqlExecutionError",
        "collection or view not found: 'nothere'",
    ),
    fails("RETURN 1 / 0", "AqlExecutionError", "division by zero"),
    fails("RETURN 1 % 0", "AqlExecutionError", "division by zero"),
    fails(
        "FOR u IN users RETURN u.age / (u.age - u.age)",
        "AqlExecutionError",
        "division by zero",
    ),
    fails(
        "LET a = 1 LET a = 2 RETURN a",
        "AqlExecutionError",
        "variable 'a' is assigned multiple times",
    ),
    fails(
        "FOR u IN users COLLECT c = u.city RETURN u",
        "AqlExecutionError",
        "unknown variable 'u'",
    ),
    fails(
        "FOR u IN users LIMIT -1 RETURN u",
        "AqlExecutionError",
        "LIMIT expects a non-negative integer, got -1",
    ),
    fails(
        "FOR u IN users LIMIT u.age RETURN u",
        "AqlExecutionError",
        "unknown variable 'u'",
    ),
    fails(
        "FOR x IN 5 RETURN x",
        "AqlExecutionError",
        "FOR expects an array, got a value of type number",
    ),
    fails(
        "RETURN 'a' =~ '('",
        "AqlExecutionError",
        "invalid regular expression '(': missing ): (",
    ),
    fails(
        "FOR u IN users COLLECT c = u.city AGGREGATE x = CONCAT(u.name) RETURN c",
        "AqlExecutionError",
        "AGGREGATE expects a call of AVERAGE(), AVG(), COUNT(), COUNT_DISTINCT(), COUNT_UNIQUE(), LENGTH(), MAX(), MIN(), SORTED_UNIQUE(), SUM(), UNIQUE()",
    ),
    fails(
        "RETURN ZIP([1], [1, 2])",
        "AqlExecutionError",
        "function 'ZIP()' expects arrays of equal length",
    ),
    fails(
        "RETURN COSINE_SIMILARITY([1], [1, 2])",
        "AqlExecutionError",
        "function 'COSINE_SIMILARITY()' expects arrays of equal length, got 1 and 2",
    ),
    fails(
        "RETURN DATE_ADD('2020-01-01', 1, 'fortnight')",
        "AqlExecutionError",
        "unknown date unit 'fortnight'",
    ),
    fails(
        "RETURN KEYS(1)",
        "AqlExecutionError",
        "function 'ATTRIBUTES()' expects an object, got '1'",
    ),
]

CASES: list[Case] = [
    *BASICS,
    *COMPARISONS,
    *CASTING,
    *LOOPS,
    *SORTING,
    *COLLECTING,
    *FUNCTIONS,
    *BINDS,
    *GRAPH,
    *ERRORS,
]
