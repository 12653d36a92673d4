"""Traversals and shortest paths checked against networkx on random graphs."""

from __future__ import annotations

import itertools
from typing import Any

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from themis import aql

_edges = st.lists(
    st.tuples(st.integers(0, 7), st.integers(0, 7), st.integers(1, 5)), max_size=20
)
_settings = settings(max_examples=50, deadline=None)


def _build(edges: list[tuple[int, int, int]]) -> tuple[aql.MemorySource, Any]:
    vertices = [{"_key": str(i)} for i in range(8)]
    docs = [
        {"_key": f"e{n}", "_from": f"v:{a}", "_to": f"v:{b}", "w": w}
        for n, (a, b, w) in enumerate(edges)
    ]
    graph = nx.MultiDiGraph()
    graph.add_nodes_from(range(8))
    for a, b, w in edges:
        graph.add_edge(a, b, weight=w)
    return aql.MemorySource({"v": vertices, "e": docs}, {"g": ["e"]}), graph


def _run(source: aql.MemorySource, text: str, **binds: Any) -> list[Any]:
    return list(aql.compile_query(text).execute(source, binds))


@_settings
@given(_edges, st.integers(0, 7), st.integers(0, 3), st.integers(0, 3))
def test_bfs_global_reaches_networkx_levels(
    edges: list[tuple[int, int, int]], start: int, low: int, extra: int
) -> None:
    source, graph = _build(edges)
    high = low + extra
    text = (
        "FOR v IN @low..@high OUTBOUND @start e "
        "OPTIONS {bfs: true, uniqueVertices: 'global'} RETURN v._key"
    )
    result = _run(source, text, low=low, high=high, start=f"v:{start}")
    distances = nx.single_source_shortest_path_length(graph, start, cutoff=high)
    expected = sorted(str(v) for v, d in distances.items() if d >= low)
    assert sorted(result) == expected
    assert len(result) == len(set(result))


@_settings
@given(_edges, st.integers(0, 7), st.integers(1, 3))
def test_path_traversal_counts_simple_paths(
    edges: list[tuple[int, int, int]], start: int, depth: int
) -> None:
    source, graph = _build(edges)
    text = (
        "FOR v, e, p IN 1..@depth ANY @start GRAPH 'g' "
        "OPTIONS {uniqueVertices: 'path'} RETURN p.vertices[*]._key"
    )
    result = _run(source, text, depth=depth, start=f"v:{start}")
    neighbours: dict[int, list[int]] = {v: [] for v in graph.nodes}
    for a, b, _ in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)

    def count(path: list[int]) -> int:
        if len(path) > depth:
            return 0
        nexts = [n for n in neighbours[path[-1]] if n not in path]
        return sum(1 + count([*path, n]) for n in nexts)

    assert len(result) == count([start])
    assert all(len(set(p)) == len(p) for p in result)


@_settings
@given(_edges, st.integers(0, 7), st.integers(0, 7))
def test_shortest_path_matches_dijkstra(
    edges: list[tuple[int, int, int]], start: int, target: int
) -> None:
    source, graph = _build(edges)
    text = (
        "FOR v, e IN OUTBOUND SHORTEST_PATH @s TO @t e "
        "OPTIONS {weightAttribute: 'w'} RETURN [v._key, e.w]"
    )
    rows = _run(source, text, s=f"v:{start}", t=f"v:{target}")
    simple = nx.DiGraph()
    simple.add_nodes_from(graph.nodes)
    for a, b, data in graph.edges(data=True):
        if not simple.has_edge(a, b) or simple[a][b]["weight"] > data["weight"]:
            simple.add_edge(a, b, weight=data["weight"])
    if not nx.has_path(simple, start, target):
        assert rows == []
        return
    expected = nx.dijkstra_path_length(simple, start, target)
    assert sum(w for _, w in rows[1:]) == expected
    assert rows[0][0] == str(start) and rows[-1][0] == str(target)


@_settings
@given(_edges, st.integers(0, 7), st.integers(0, 7))
def test_k_shortest_paths_match_networkx(
    edges: list[tuple[int, int, int]], start: int, target: int
) -> None:
    source, graph = _build(edges)
    if start == target:
        return
    text = (
        "FOR p IN OUTBOUND K_SHORTEST_PATHS @s TO @t e "
        "OPTIONS {weightAttribute: 'w'} LIMIT 4 RETURN p.weight"
    )
    weights = _run(source, text, s=f"v:{start}", t=f"v:{target}")
    simple = nx.DiGraph()
    simple.add_nodes_from(graph.nodes)
    for a, b, data in graph.edges(data=True):
        if not simple.has_edge(a, b) or simple[a][b]["weight"] > data["weight"]:
            simple.add_edge(a, b, weight=data["weight"])
    if not nx.has_path(simple, start, target):
        assert weights == []
        return
    paths = nx.shortest_simple_paths(simple, start, target, weight="weight")
    expected = [nx.path_weight(simple, p, "weight") for p in itertools.islice(paths, 4)]
    assert weights == sorted(weights)
    assert weights[0] == expected[0]
    if len(edges) == len({(a, b) for a, b, _ in edges}):
        assert weights == expected
