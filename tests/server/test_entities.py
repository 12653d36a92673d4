"""Entity and batch routes of a real node, with their exact wire shapes."""

from __future__ import annotations

import uuid

import httpx
import orjson


def _key(table: str = "users") -> str:
    return f"{table}:{uuid.uuid4().hex}"


def test_put_get_delete_roundtrip(http: httpx.Client) -> None:
    key = _key()
    blob = '{"name": "Alice", "tags": ["a", "b"], "nested": {"x": 1}}'

    put = http.put(f"/entities/{key}", json={"blob": blob})
    assert put.status_code == 201
    assert put.json() == {"success": True, "key": key, "blob_size": len(blob)}

    got = http.get(f"/entities/{key}")
    assert got.status_code == 200
    assert got.json() == {"key": key, "blob": blob}

    deleted = http.delete(f"/entities/{key}")
    assert deleted.json() == {"success": True, "key": key}
    assert http.get(f"/entities/{key}").status_code == 404


def test_put_is_an_upsert(http: httpx.Client) -> None:
    key = _key()
    http.put(f"/entities/{key}", json={"blob": '{"v": 1}'})
    http.put(f"/entities/{key}", json={"blob": '{"v": 2}'})
    assert http.get(f"/entities/{key}").json()["blob"] == '{"v": 2}'


def test_post_entities_uses_body_key(http: httpx.Client) -> None:
    key = _key("orders")
    response = http.post("/entities", json={"key": key, "blob": '{"amount": 5}'})
    assert response.status_code == 201
    assert http.get(f"/entities/{key}").json()["blob"] == '{"amount": 5}'


def test_delete_missing_is_404(http: httpx.Client) -> None:
    key = _key()
    response = http.delete(f"/entities/{key}")
    assert response.status_code == 404
    assert response.json() == {
        "error": True,
        "message": f"Entity not found: {key!r}",
        "status_code": 404,
    }


def test_get_missing_is_404(http: httpx.Client) -> None:
    response = http.get("/entities/users:never-written")
    assert response.status_code == 404
    assert response.json()["message"] == "Entity not found: 'users:never-written'"


def test_big_integers_and_unicode_survive_exactly(http: httpx.Client) -> None:
    key = _key()
    blob = '{"n": 123456789012345678901234567890, "s": "Grüße 🌍"}'
    http.put(f"/entities/{key}", json={"blob": blob})
    assert http.get(f"/entities/{key}").json()["blob"] == blob


def test_batch_get_reports_every_key(http: httpx.Client) -> None:
    first, second, absent = _key(), _key(), _key()
    http.put(f"/entities/{first}", json={"blob": '{"i": 1}'})
    http.put(f"/entities/{second}", json={"blob": '{"i": 2}'})

    response = http.post("/batch/get", json={"keys": [first, second, absent, "bad"]})

    assert response.status_code == 200
    assert response.json() == {
        "found": {first: '{"i": 1}', second: '{"i": 2}'},
        "missing": [absent],
        "errors": {"bad": "Key must be in format 'table:pk', received 'bad'"},
    }


def test_batch_get_documents_by_position(http: httpx.Client) -> None:
    first, second, absent = _key(), _key(), _key()
    http.put(f"/entities/{first}", json={"blob": '{"i": 1}'})
    http.put(f"/entities/{second}", json={"blob": '{"t": "text"}'})
    keys = [first, "bad", absent, second, first]

    body = {"keys": keys, "documents": True, "positional": True}
    response = http.post("/batch/get", json=body)

    assert response.status_code == 200
    assert response.json() == {
        "documents": [{"i": 1}, None, None, {"t": "text"}, {"i": 1}],
        "missing": [2],
        "errors": [
            {
                "position": 1,
                "message": "Key must be in format 'table:pk', received 'bad'",
            }
        ],
    }
    as_text = http.post("/batch/get", json={"keys": keys[:1], "positional": True})
    assert as_text.json()["documents"] == ['{"i": 1}']


def test_batch_get_by_table_and_pks(http: httpx.Client) -> None:
    table = "relational.default.people"
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    http.put(f"/entities/{table}:{first}", json={"blob": '{"i": 1}'})
    http.put(f"/entities/{table}:{second}", json={"blob": '{"i": 2}'})
    pks = [second, "a/b", "absent", first]

    body = {"table": table, "pks": pks, "documents": True, "positional": True}
    positional = http.post("/batch/get", json=body).json()
    by_key = http.post("/batch/get", json={"table": table, "pks": pks}).json()
    every = http.post("/batch/get", json={**body, "pks": [first, second]}).json()

    slash = f"invalid entity key: '/' is not allowed in keys, received '{table}:a/b'"
    assert positional == {
        "documents": [{"i": 2}, None, None, {"i": 1}],
        "missing": [2],
        "errors": [{"position": 1, "message": slash}],
    }
    assert by_key == {
        "found": {f"{table}:{second}": '{"i": 2}', f"{table}:{first}": '{"i": 1}'},
        "missing": [f"{table}:absent"],
        "errors": {f"{table}:a/b": slash},
    }
    assert every == {"documents": [{"i": 1}, {"i": 2}], "missing": [], "errors": []}


def test_batch_delete_by_table_and_pks(http: httpx.Client) -> None:
    present = uuid.uuid4().hex
    http.put(f"/entities/users:{present}", json={"blob": "{}"})

    body = {"table": "users", "pks": [present, "gone"]}
    response = http.post("/batch/delete", json=body)

    assert response.json() == {
        "succeeded": [f"users:{present}"],
        "missing": ["users:gone"],
        "failed": {},
    }


def test_batch_put_keeps_good_items_and_reports_bad_ones(http: httpx.Client) -> None:
    good = _key()
    items = [
        {"key": good, "blob": '{"ok": true}'},
        {"key": "users:x", "blob": "[1, 2]"},
        {"key": "nocolon", "blob": "{}"},
        42,
        {"key": "users:../y", "doc": [1]},
        {"key": "users:z", "doc": "{}"},
    ]

    response = http.post("/batch/put", json={"items": items})

    assert response.json() == {
        "succeeded": [good],
        "failed": {
            "users:x": "expected 'blob' of 'users:x' to hold a JSON object, "
            "received list",
            "nocolon": "Key must be in format 'table:pk', received 'nocolon'",
            "#3": "expected item 3 to be an object with 'key' and 'blob', received int",
            "users:../y": "invalid entity key: '..' is not allowed in keys, "
            "received 'users:../y'",
            "users:z": "expected 'doc' of 'users:z' to be a JSON object, received str",
        },
    }
    assert http.get(f"/entities/{good}").status_code == 200
    assert http.get("/entities/users:x").status_code == 404
    assert list(response.json()["failed"]) == [
        "users:x",
        "nocolon",
        "#3",
        "users:../y",
        "users:z",
    ]


def test_batch_delete_separates_missing_keys(http: httpx.Client) -> None:
    present, absent = _key(), _key()
    http.put(f"/entities/{present}", json={"blob": "{}"})

    response = http.post("/batch/delete", json={"keys": [present, absent]})

    assert response.json() == {
        "succeeded": [present],
        "missing": [absent],
        "failed": {},
    }
    assert http.get(f"/entities/{present}").status_code == 404


def test_batch_over_the_key_limit_is_rejected(http: httpx.Client) -> None:
    keys = [f"users:{i}" for i in range(10_001)]
    response = http.post("/batch/get", json={"keys": keys})
    assert response.status_code == 400
    assert response.json()["message"] == (
        "a batch holds at most 10000 keys, received 10001"
    )


def test_health_topology_and_stats(http: httpx.Client, node_url: str) -> None:
    health = http.get("/health").json()
    assert health["status"] == "healthy"
    assert health["database"] == "themis"
    assert isinstance(health["uptime_seconds"], int)

    topology = http.get("/_admin/cluster/topology").json()
    assert topology == {
        "version": 1,
        "shards": [{"id": health["shard_id"], "http_endpoint": node_url}],
    }

    stats = http.get("/stats").json()
    assert stats["storage"]["engine"] == "lmdb"
    assert stats["storage"]["entries"]["docs"] >= 0


def test_responses_are_json(http: httpx.Client) -> None:
    response = http.get("/health")
    assert response.headers["content-type"] == "application/json"
    assert orjson.loads(response.content)["status"] == "healthy"
