"""Malformed requests get a clear 4xx and never hurt the node or its data."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from themis import _json

BAD_REQUESTS = [
    (
        "put",
        "/entities/users:a",
        b"{not json",
        400,
        "Invalid JSON: unexpected character, expected a string key: "
        "line 1 column 2 (char 1)",
    ),
    (
        "put",
        "/entities/users:a",
        b'{"blob": 5}',
        400,
        "expected 'blob' to be a string of JSON text for 'users:a', received int",
    ),
    (
        "put",
        "/entities/users:a",
        b'{"blob": "{oops"}',
        400,
        "'blob' of 'users:a' is not valid JSON: unexpected character, expected a "
        "string key: line 1 column 2 (char 1)",
    ),
    (
        "put",
        "/entities/users:a",
        b'{"other": 1}',
        400,
        "missing required field 'blob' for 'users:a'",
    ),
    (
        "put",
        "/entities/users:a",
        b"[1, 2]",
        400,
        "expected a JSON object as request body, received list",
    ),
    (
        "put",
        "/entities/users:a",
        b"",
        400,
        "expected a JSON request body, received an empty body",
    ),
    (
        "put",
        "/entities/nocolon",
        b'{"blob": "{}"}',
        400,
        "Key must be in format 'table:pk', received 'nocolon'",
    ),
    (
        "get",
        "/entities/:pk",
        None,
        400,
        "Key must be in format 'table:pk', received ':pk'",
    ),
    (
        "get",
        "/entities/users:..%2Fetc",
        None,
        400,
        "invalid entity key: '..' is not allowed in keys, received 'users:../etc'",
    ),
    (
        "get",
        "/entities/users/alice",
        None,
        400,
        "invalid entity key: '/' is not allowed in keys, received 'users/alice'",
    ),
    (
        "get",
        "/entities/users:a%01b",
        None,
        400,
        "invalid entity key: control characters are not allowed, "
        "received 'users:a\\x01b'",
    ),
    (
        "post",
        "/entities",
        b'{"key": 7, "blob": "{}"}',
        400,
        "expected field 'key' to be str, received int 7",
    ),
    (
        "post",
        "/batch/get",
        b'{"keys": "users:a"}',
        400,
        "expected field 'keys' to be list, received str 'users:a'",
    ),
    (
        "post",
        "/batch/get",
        b'{"keys": ["users:a", 3]}',
        400,
        "expected 'keys' to hold strings, received int at position 1",
    ),
    (
        "post",
        "/batch/get",
        b'{"table": "users", "pks": ["a", null]}',
        400,
        "expected 'pks' to hold strings, received NoneType at position 1",
    ),
    (
        "post",
        "/batch/get",
        b'{"pks": ["a"]}',
        400,
        "missing required field 'table'",
    ),
    (
        "post",
        "/batch/get",
        b'{"table": "a:b", "pks": ["a"]}',
        400,
        "invalid table: expected no ':' in it, received 'a:b'",
    ),
    (
        "post",
        "/batch/delete",
        b'{"keys": ["users:a"], "table": "users", "pks": ["a"]}',
        400,
        "expected either 'keys' or 'table' with 'pks', received both 'keys' and 'pks'",
    ),
    ("post", "/nowhere", b"{}", 404, "Endpoint not found"),
    ("delete", "/health", None, 405, "method DELETE is not allowed on /health"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), BAD_REQUESTS)
def test_bad_request_gets_clear_error(
    http: httpx.Client,
    method: str,
    path: str,
    body: bytes | None,
    status: int,
    message: str,
) -> None:
    response = http.request(method, path, content=body)

    assert response.status_code == status
    assert response.json() == {"error": True, "message": message, "status_code": status}
    assert http.get("/health").status_code == 200


def test_overlong_key_is_rejected(http: httpx.Client) -> None:
    key = "users:" + "k" * 520
    response = http.get(f"/entities/{key}")
    assert response.status_code == 400
    assert response.json()["message"] == (
        "invalid entity key: expected at most 500 bytes, received 526 bytes"
    )


def test_the_longest_key_fits_the_storage_engine(http: httpx.Client) -> None:
    key = "users:" + "k" * 494
    assert http.put(f"/entities/{key}", json={"blob": "{}"}).status_code == 201
    assert http.get(f"/entities/{key}").json()["blob"] == "{}"


BIG = "1" + "0" * 400  # beyond the float range; read exactly by the standard library
DEEP = "[" * 129 + "]" * 129

# Each request once answered 500 or 503; now each is refused as what it is.
REFUSED = [
    (
        "GET",
        "/entities/t:1",
        None,
        {"X-Transaction-Id": "\u00b2"},
        "expected a transaction id (a non-negative integer)",
    ),
    (
        "POST",
        "/transaction/rollback",
        '{"transaction_id": "' + "1" * 5000 + '"}',
        {},
        "expected a transaction id (a non-negative integer)",
    ),
    (
        "POST",
        "/entities",
        '{"key": "t:\\ud800", "blob": "{}", "n": ' + BIG + "}",
        {},
        "Invalid JSON: expected text of valid Unicode, received a lone UTF-16",
    ),
    (
        "PUT",
        "/entities/t:2",
        _json.dumps({"blob": '{"a": "\\udc00", "n": ' + BIG + "}"}).decode(),
        {},
        "'blob' of 't:2' is not valid JSON: expected text of valid Unicode",
    ),
    (
        "POST",
        "/batch/get",
        '{"n": ' + BIG + ', "keys": ' + "[" * 3000 + "]" * 3000 + "}",
        {},
        "Invalid JSON: expected JSON nested fewer than 1000 levels deep",
    ),
    (
        "POST",
        "/transaction/begin",
        '{"isolation": ' + DEEP + "}",
        {},
        "Invalid JSON: expected arrays and objects nested at most 128 levels deep",
    ),
    (
        "PUT",
        "/entities/t:3",
        _json.dumps({"blob": '{"a": ' + DEEP + "}"}).decode(),
        {},
        "'blob' of 't:3' is not valid JSON: expected arrays and objects nested at most",
    ),
    (
        "POST",
        "/vector/search",
        '{"collection": "vv", "vector": [' + BIG + ", 1]}",
        {},
        "invalid 'vector': expected finite numbers, received int 1000",
    ),
    (
        "POST",
        "/index/create",
        '{"table": "t", "column": "a", "type": []}',
        {},
        "expected 'type' to be one of 'equality', 'range', received []",
    ),
    (
        "POST",
        "/index/drop",
        '{"table": "t", "column": "a", "type": {}}',
        {},
        "expected 'type' to be one of 'equality', 'range', received {}",
    ),
    (
        "POST",
        "/query/aql",
        '{"query": "RETURN 1", "use_cursor": true, "cursor": "a.\\u00e9"}',
        {},
        "invalid cursor: expected a token returned as 'next_cursor'",
    ),
    (
        "POST",
        "/vector/search",
        '{"collection": "vv", "vector": [1, 2], "cursor": "\\u00b2.x"}',
        {},
        "invalid cursor: expected a 'next_cursor' this node issued",
    ),
    (
        "POST",
        "/graph",
        _json.dumps({"name": "g" * 600, "edge_definitions": []}).decode(),
        {},
        "invalid name: expected at most 500 bytes, received 600 bytes",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "message"), REFUSED)
def test_inputs_that_once_broke_the_node_are_refused(
    http: httpx.Client,
    method: str,
    path: str,
    body: str | None,
    headers: dict[str, str],
    message: str,
) -> None:
    if path.startswith("/vector/"):
        seed = {"collection": "vv", "items": [{"pk": "a", "vector": [1, 2]}]}
        assert http.post("/vector/batch_insert", json=seed).is_success
    content = None if body is None else body.encode()
    raw_headers = {name.encode(): value.encode() for name, value in headers.items()}
    response = http.request(method, path, content=content, headers=raw_headers)

    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(message)
    assert http.get("/health").status_code == 200


def test_writes_whose_derived_keys_are_too_long_are_refused(
    http: httpx.Client,
) -> None:
    assert http.post("/index/create", json={"table": "ix", "column": "a"}).is_success
    long_value = {"a": "v" * 600}
    response = http.put(
        "/entities/ix:1", json={"blob": _json.dumps(long_value).decode()}
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith(
        "cannot index 'a' of 'ix:1': expected a value of at most"
    )
    edge = {"_from": "v:" + "x" * 508, "_to": "v:2"}
    response = http.put("/entities/e:1", json={"blob": _json.dumps(edge).decode()})
    assert response.status_code == 400
    assert response.json()["message"].startswith("cannot store edge 'e:1'")
    assert http.get("/entities/ix:1").status_code == 404
    assert http.get("/entities/e:1").status_code == 404


def test_edges_with_weights_beyond_the_float_range_weigh_one(
    http: httpx.Client,
) -> None:
    edge = '{"_from": "w:1", "_to": "w:2", "_weight": ' + BIG + "}"
    assert http.put("/entities/we:1", json={"blob": edge}).status_code == 201
    assert http.put("/entities/w:1", json={"blob": "{}"}).status_code == 201
    assert http.put("/entities/w:2", json={"blob": "{}"}).status_code == 201
    path = http.post(
        "/graph/shortest_path",
        json={"start": "w:1", "target": "w:2", "weight_attribute": "_weight"},
    )
    assert path.status_code == 200, path.text


def test_body_over_limit_is_413(http: httpx.Client) -> None:
    blob = '{"x": "' + "a" * (10 * 1024 * 1024) + '"}'
    response = http.put("/entities/users:huge", json={"blob": blob})

    assert response.status_code == 413
    body = response.json()
    assert body["max_bytes"] == 10 * 1024 * 1024
    assert body["actual_bytes"] > body["max_bytes"]
    assert body["message"].startswith("request body of ")
    assert http.get("/entities/users:huge").status_code == 404


def test_failed_write_leaves_stored_value_alone(http: httpx.Client) -> None:
    key = f"users:{uuid.uuid4().hex}"
    http.put(f"/entities/{key}", json={"blob": '{"v": 1}'})
    http.put(f"/entities/{key}", content=b'{"blob": "[broken"}')
    assert http.get(f"/entities/{key}").json()["blob"] == '{"v": 1}'


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
documents = st.dictionaries(st.text(max_size=10), json_values, max_size=6)
pks = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cs"), blacklist_characters="/\\%."
    ),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(pk=pks, document=documents)
def test_documents_roundtrip_exactly(
    http: httpx.Client, pk: str, document: dict[str, object]
) -> None:
    key = f"props:{pk}"
    path = "/entities/" + quote(key, safe=":")
    blob = _json.dumps(document).decode()

    assert http.put(path, json={"blob": blob}).status_code == 201
    stored = http.get(path).json()["blob"]

    assert stored == blob
    assert _json.loads(stored) == document
