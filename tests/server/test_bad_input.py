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
    key = "users:" + "k" * 1100
    response = http.get(f"/entities/{key}")
    assert response.status_code == 400
    assert response.json()["message"] == (
        "invalid entity key: expected at most 1024 bytes, received 1106 bytes"
    )


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
