"""COLLECT queries and data whose results must not change when pushed down."""

from __future__ import annotations

from typing import Any

DOCS: list[dict[str, Any]] = [
    {"_key": f"k{i:02d}", **doc}
    for i, doc in enumerate(
        list[dict[str, Any]](
            [
                {"g": "a", "h": 1, "n": 1, "f": 0.1, "m": 1},
                {"g": "a", "h": 2, "n": 2, "f": 0.2, "m": 1.0},
                {"g": "b", "h": 1, "n": 3.5, "f": 0.3, "m": "x"},
                {"g": "b", "h": None, "n": None, "f": 0.7, "m": [1, None]},
                {"g": None, "h": 1, "n": "7", "f": 1e16, "m": {"a": 1}},
                {"h": 2, "n": 4, "f": -0.1, "m": [1]},
                {"g": 1, "h": 1, "n": 5, "f": 3.3, "m": True},
                {"g": 1.0, "h": 2, "n": 6, "f": 0.01, "m": {"a": 1, "b": None}},
                {"g": "a", "h": 1, "n": 2**60, "f": 1.0, "m": None},
                {"g": [1], "h": 3, "n": 0, "f": 2.5, "m": 2},
                {"g": "c", "h": 3, "n": 1.5, "f": 0.1, "m": 1},
                {"g": "c", "h": 3, "n": 2.25, "f": 0.2, "m": 1.0},
            ]
        )
    )
]

QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("FOR d IN t COLLECT g = d.g AGGREGATE n = COUNT() RETURN [g, n]", {}),
    ("FOR d IN t COLLECT g = d.g, h = d.h WITH COUNT INTO c RETURN [g, h, c]", {}),
    (
        "FOR d IN t COLLECT g = d.g AGGREGATE s = SUM(d.n), a = AVG(d.n) RETURN [g, s, "
        "a]",
        {},
    ),
    (
        "FOR d IN t COLLECT h = d.h AGGREGATE s = SUM(d.f), a = AVERAGE(d.f) RETURN [h,"
        " s, a]",
        {},
    ),
    (
        "FOR d IN t COLLECT AGGREGATE s = SUM(d.f), n = COUNT(), a = AVG(d.f) RETURN "
        "[s, n, a]",
        {},
    ),
    (
        "FOR d IN t COLLECT AGGREGATE lo = MIN(d.m), hi = MAX(d.m), s = SUM(d.m) RETURN"
        " [lo, hi, s]",
        {},
    ),
    (
        "FOR d IN t COLLECT h = d.h AGGREGATE lo = MIN(d.m), hi = MAX(d.m) RETURN [h, "
        "lo, hi]",
        {},
    ),
    (
        "FOR d IN t COLLECT AGGREGATE u = UNIQUE(d.m), s = SORTED_UNIQUE(d.m), c = "
        "COUNT_DISTINCT(d.m), c2 = COUNT_UNIQUE(d.g) RETURN [u, s, c, c2]",
        {},
    ),
    (
        "FOR d IN t COLLECT h = d.h AGGREGATE u = UNIQUE(d.g), l = LENGTH(d.g) RETURN "
        "{h, u, l}",
        {},
    ),
    (
        "FOR d IN t FILTER d.h > 5 COLLECT AGGREGATE n = COUNT(), s = SUM(d.n), a = "
        "AVG(d.n), lo = MIN(d.n), u = UNIQUE(d.n) RETURN [n, s, a, lo, u]",
        {},
    ),
    ("FOR d IN t FILTER d.h > 5 COLLECT g = d.g WITH COUNT INTO c RETURN [g, c]", {}),
    (
        "FOR d IN t FILTER d.h >= @low FILTER d.g != null COLLECT g = d.g AGGREGATE s ="
        " SUM(d.n * 2) RETURN [g, s]",
        {"low": 1},
    ),
    (
        "FOR d IN @@coll COLLECT k = d.h % 2 == 0 ? 'even' : 'odd' AGGREGATE n = "
        "COUNT(d.x) RETURN [k, n]",
        {"@coll": "t"},
    ),
    (
        "FOR d IN t COLLECT g = d.g AGGREGATE n = COUNT() FILTER n > 1 SORT n DESC, g "
        "LIMIT 2 RETURN [g, n]",
        {},
    ),
    (
        "FOR d IN t COLLECT g = CONCAT(d.g, '-', @sep), o = {v: d.h, w: [d.h, 'x']} "
        "AGGREGATE m = MAX(d.f) RETURN [g, o, m]",
        {"sep": "s"},
    ),
    (
        "FOR d IN t COLLECT g = d['g'] AGGREGATE m = MIN(d.f), x = MAX(-d.f) RETURN [g,"
        " m, x]",
        {},
    ),
    (
        "FOR d IN t FILTER d.g IN ['a', 'b'] AND NOT (d.h == 2) COLLECT g = d.g "
        "AGGREGATE s = SUM(d.f) RETURN [g, s]",
        {},
    ),
    (
        "FOR x IN [1, 2] LET r = (FOR d IN t FILTER d.h == x COLLECT AGGREGATE n = "
        "COUNT() RETURN n) RETURN [x, r]",
        {},
    ),
    (
        "FOR d IN empty COLLECT AGGREGATE n = COUNT(), s = SUM(d.n), a = AVG(d.n), lo ="
        " MIN(d.n), u = UNIQUE(d.n), c = COUNT_DISTINCT(d.n)"
        " RETURN [n, s, a, lo, u, c]",
        {},
    ),
    ("FOR d IN empty COLLECT g = d.g WITH COUNT INTO c RETURN [g, c]", {}),
    (
        "FOR x IN [1, 3] LET r = (FOR d IN t FILTER d.h == @one COLLECT h = d.h "
        "AGGREGATE n = COUNT() RETURN [h, n]) RETURN [x, r]",
        {"one": 1},
    ),
    ("FOR d IN t COLLECT g = d.g INTO rows RETURN [g, LENGTH(rows)]", {}),
    (
        "FOR d IN t LET x = d.h * 2 COLLECT g = x AGGREGATE n = COUNT(), s = SUM(d.n) "
        "RETURN [g, n, s]",
        {},
    ),
    (
        "FOR d IN t FILTER d.h != null LET k = CONCAT(d.g, '') FILTER k != 'a' "
        "LET w = LENGTH(k) COLLECT g = k AGGREGATE m = MAX(w + @add) RETURN [g, m]",
        {"add": 1},
    ),
    (
        "FOR x IN t LET s = (FOR y IN t FILTER y.g == x.g RETURN 1) COLLECT g = x.g "
        "AGGREGATE n = COUNT(), l = SUM(LENGTH(s)) RETURN [g, n, l]",
        {},
    ),
]
"""Queries with bind parameters; the collections are ``t`` (DOCS) and ``empty``."""
