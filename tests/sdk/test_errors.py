from __future__ import annotations

import httpx
import pytest

from themis.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    QueryError,
    ThemisHTTPError,
    http_error,
)


def _response(status: int, path: str, body: object) -> httpx.Response:
    request = httpx.Request("POST", f"http://node:1{path}")
    return httpx.Response(status, json=body, request=request)


@pytest.mark.parametrize(
    ("status", "path", "cls"),
    [
        (400, "/query/aql", QueryError),
        (400, "/entities/t:1", BadRequestError),
        (422, "/x", BadRequestError),
        (404, "/entities/t:1", NotFoundError),
        (409, "/entities/t:1", ConflictError),
        (503, "/x", ThemisHTTPError),
    ],
)
def test_http_error_branch(status: int, path: str, cls: type[ThemisHTTPError]) -> None:
    body = {"error": True, "message": "boom", "status_code": status}
    exc = http_error(_response(status, path, body))
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.message == "boom"
    assert exc.response.status_code == status
    assert exc.request.url.path == path


def test_http_error_reads_string_error_field() -> None:
    exc = http_error(_response(429, "/x", {"error": "Too Many Requests"}))
    assert exc.message == "Too Many Requests"
    assert (
        str(exc) == "429 Too Many Requests from POST http://node:1/x: Too Many Requests"
    )
