"""Vector search over HTTP against raw faiss HNSW and numpy brute force.

Run with ``python -m benchmarks.bench_vectors``. It starts a node on a temporary
directory, inserts random vectors in batches, then measures search throughput and
recall@10 of the node, of a faiss HNSW index built in-process with the node's
parameters (M, efConstruction, efSearch), and of exact numpy search, and prints the
ratios. The goal is recall@10 >= 0.95 at >= 0.5 of raw faiss throughput. Last, it
times a restart after a clean stop (the saved index is reused) against one after
kill -9 (the index is rebuilt from the documents).
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faiss
import httpx
import numpy as np
import numpy.typing as npt
import orjson

from themis.server.launcher import NodeProcess

COUNT = 100_000
DIMENSION = 128
QUERIES = 300
BATCH = 2_000
CLIENTS = 4
K = 10
# M=16 reached recall@10 0.80 at efSearch 512 on this data; M=32 reaches 0.96 with a
# cheaper build (efConstruction 128). Raw faiss uses the same three parameters.
M, EF_CONSTRUCTION, EF_SEARCH = 32, 128, 512

Matrix = npt.NDArray[np.float32]
JSON = {"Content-Type": "application/json"}


def exact_top(data: Matrix, queries: Matrix) -> list[set[int]]:
    """True top-k ids by cosine (data and queries are unit length)."""
    scores = queries @ data.T
    return [set(np.argsort(-row)[:K].tolist()) for row in scores]


def recall(found: list[list[int]], truth: list[set[int]]) -> float:
    """Mean share of the true top-k among the found ids."""
    hits = sum(len(truth[i] & set(ids)) for i, ids in enumerate(found))
    return hits / (K * len(truth))


def insert(url: str, data: Matrix) -> float:
    """Insert every vector in batches; returns seconds taken."""
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=300.0) as http:
        index = {
            "collection": "vectors",
            "dimension": DIMENSION,
            "M": M,
            "efConstruction": EF_CONSTRUCTION,
            "efSearch": EF_SEARCH,
        }
        http.post("/vector/index", json=index).raise_for_status()
        for start in range(0, len(data), BATCH):
            items = [
                {"pk": str(i), "vector": data[i].tolist(), "fields": {"i": i}}
                for i in range(start, min(start + BATCH, len(data)))
            ]
            body = orjson.dumps({"items": items})
            http.post(
                "/vector/batch_insert", content=body, headers=JSON
            ).raise_for_status()
    return time.perf_counter() - started


def http_search(url: str, queries: Matrix) -> tuple[float, list[list[int]]]:
    """Queries per second over HTTP with a few concurrent clients, and the ids."""

    def one(query: Matrix) -> list[int]:
        body = orjson.dumps({"vector": query.tolist(), "k": K})
        response = client.post("/vector/search", content=body, headers=JSON)
        return [int(r["pk"]) for r in orjson.loads(response.content)["results"]]

    client = httpx.Client(base_url=url, timeout=60.0)
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(one, queries[:20]))
        started = time.perf_counter()
        found = list(pool.map(one, queries))
        elapsed = time.perf_counter() - started
    client.close()
    return len(queries) / elapsed, found


def raw_faiss(data: Matrix, queries: Matrix) -> tuple[float, list[list[int]]]:
    """Queries per second of an in-process HNSW index, one query per call."""
    index = faiss.IndexHNSWFlat(DIMENSION, M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    index.add(data)
    index.hnsw.efSearch = EF_SEARCH
    started = time.perf_counter()
    found = [index.search(q[None, :], K)[1][0].tolist() for q in queries]
    return len(queries) / (time.perf_counter() - started), found


def brute_force(data: Matrix, queries: Matrix) -> float:
    """Queries per second of exact numpy search, one query per call."""
    started = time.perf_counter()
    for query in queries:
        scores = data @ query
        np.argpartition(-scores, K)[:K]
    return len(queries) / (time.perf_counter() - started)


def restarts(node: NodeProcess, query: Matrix) -> None:
    """Time the first search after a clean restart and after a kill -9 restart."""
    started = time.perf_counter()
    node.stop()
    print(f"clean stop, saving the index: {time.perf_counter() - started:.1f} s")
    reused = first_search_after_start(node, query)
    node.kill()
    rebuilt = first_search_after_start(node, query)
    print(
        f"start to first search: {reused:.1f} s after a clean stop (index reused), "
        f"{rebuilt:.1f} s after kill -9 (index rebuilt); ratio {rebuilt / reused:.0f}x"
    )


def first_search_after_start(node: NodeProcess, query: Matrix) -> float:
    """Seconds from starting ``node`` again to its first answered search."""
    started = time.perf_counter()
    node.start()
    body = orjson.dumps({"collection": "vectors", "vector": query.tolist(), "k": K})
    with httpx.Client(base_url=node.url, timeout=120.0) as http:
        while (
            http.post("/vector/search", content=body, headers=JSON).status_code != 200
        ):
            time.sleep(0.05)
    return time.perf_counter() - started


def main() -> None:
    """Run the benchmark and print its figures."""
    rng = np.random.default_rng(0)
    data = rng.normal(size=(COUNT, DIMENSION)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    queries = rng.normal(size=(QUERIES, DIMENSION)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    truth = exact_top(data, queries)

    with tempfile.TemporaryDirectory() as root, NodeProcess(Path(root)) as node:
        seconds = insert(node.url, data)
        print(
            f"insert: {COUNT} x {DIMENSION} in {seconds:.1f} s "
            f"({COUNT / seconds:.0f} vectors/s)"
        )
        node_qps, node_found = http_search(node.url, queries)
        restarts(node, queries[0])
    raw_qps, raw_found = raw_faiss(data, queries)
    numpy_qps = brute_force(data, queries)

    node_recall, raw_recall = recall(node_found, truth), recall(raw_found, truth)
    print(
        f"node over HTTP ({CLIENTS} clients): {node_qps:.0f} qps, "
        f"recall@10 {node_recall:.3f}"
    )
    print(f"raw faiss HNSW in-process:  {raw_qps:.0f} qps, recall@10 {raw_recall:.3f}")
    print(f"numpy brute force:          {numpy_qps:.0f} qps, recall@10 1.000")
    print(
        f"ratios: node/raw qps {node_qps / raw_qps:.2f}, "
        f"node/numpy qps {node_qps / numpy_qps:.2f}, "
        f"node/raw recall {node_recall / raw_recall:.3f}"
    )


if __name__ == "__main__":
    main()
