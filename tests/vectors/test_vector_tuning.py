"""HNSW parameters given when an index is created."""

from __future__ import annotations

import uuid

import httpx


def _create(http: httpx.Client, collection: str) -> dict[str, object]:
    body = {
        "collection": collection,
        "dimension": 2,
        "M": 32,
        "efConstruction": 128,
        "efSearch": 512,
    }
    response = http.post("/vector/index", json=body)
    assert response.status_code == 201
    config: dict[str, object] = response.json()
    return config


def test_create_index_takes_hnsw_parameters(http: httpx.Client) -> None:
    config = _create(http, f"tune{uuid.uuid4().hex[:8]}")
    assert (config["M"], config["efConstruction"], config["efSearch"]) == (32, 128, 512)


def test_create_index_rejects_out_of_range_m(http: httpx.Client) -> None:
    body = {"collection": f"tune{uuid.uuid4().hex[:8]}", "dimension": 2, "M": 0}
    response = http.post("/vector/index", json=body)
    assert response.status_code == 400
    assert response.json()["message"] == "expected 'M' between 1 and 128, received 0"


def test_insert_keeps_the_created_ef_search(http: httpx.Client) -> None:
    collection = f"tune{uuid.uuid4().hex[:8]}"
    _create(http, collection)
    items = [{"pk": "a", "vector": [1.0, 2.0]}]
    body = {"collection": collection, "items": items}
    assert http.post("/vector/batch_insert", json=body).json()["inserted"] == 1
    query = {"collection": collection}
    config = http.get("/vector/index/config", params=query).json()
    assert config["efSearch"] == 512
