from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from themis import ThemisClient, ThemisHTTPError
from themis._core.effects import Call
from themis._core.retry import RetryPolicy


def _client(
    handler: Callable[[httpx.Request], httpx.Response], sleeps: list[float]
) -> ThemisClient:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/_admin/cluster/topology":
            return httpx.Response(404, json={"message": "Endpoint not found"})
        return handler(request)

    return ThemisClient(
        ["http://a:1"],
        transport=httpx.MockTransport(answer),
        _retry=RetryPolicy(jitter=lambda: 1.0),
        _sleep=sleeps.append,
    )


def _script(
    *statuses: int, headers: dict[str, str] | None = None
) -> tuple[Callable[[httpx.Request], httpx.Response], list[str]]:
    seen: list[str] = []
    remaining = list(statuses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        status = remaining.pop(0) if remaining else 200
        if status >= 400:
            body = {"error": True, "message": f"status {status}", "status_code": status}
            return httpx.Response(status, json=body, headers=headers)
        return httpx.Response(200, json={"key": "k", "blob": '{"a": 1}'})

    return handler, seen


def test_policy_idempotency() -> None:
    policy = RetryPolicy()
    assert policy.idempotent(Call("GET", "/entities/k"))
    assert policy.idempotent(Call("POST", "/query/aql"))
    assert policy.idempotent(Call("POST", "/batch/put"))
    assert not policy.idempotent(Call("POST", "/transaction/commit"))
    assert not policy.idempotent(Call("POST", "/transaction/begin"))
    # The SDK picks edge keys and vector pks, so these posts are upserts.
    assert policy.idempotent(Call("POST", "/graph/edge"))
    assert policy.idempotent(Call("POST", "/vector/batch_insert"))


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = RetryPolicy(jitter=lambda: 1.0)
    assert [policy.backoff(n) for n in range(7)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0]
    assert RetryPolicy(jitter=lambda: 0.5).backoff(1) == 0.05
    assert policy.delay(0, "3") == 3.0
    assert policy.delay(0, "3600") == 30.0
    assert policy.delay(1, "Wed, 21 Oct 2015 07:28:00 GMT") == 0.1


def test_5xx_then_success() -> None:
    handler, seen = _script(503, 500)
    sleeps: list[float] = []
    assert _client(handler, sleeps).get("relational", "users", "1") == {"a": 1}
    assert len(seen) == 3
    assert sleeps == [0.05, 0.1]


def test_retry_after_is_honoured() -> None:
    handler, _ = _script(429, headers={"Retry-After": "2"})
    sleeps: list[float] = []
    _client(handler, sleeps).get("relational", "users", "1")
    assert sleeps == [2.0]


def test_gives_up_after_max_retries() -> None:
    handler, seen = _script(503, 503, 503, 503, 503)
    sleeps: list[float] = []
    with pytest.raises(ThemisHTTPError) as info:
        _client(handler, sleeps).get("relational", "users", "1")
    assert isinstance(info.value, httpx.HTTPStatusError)
    assert info.value.status_code == 503
    assert info.value.message == "status 503"
    assert isinstance(info.value.__cause__, httpx.HTTPStatusError)
    assert len(seen) == 4


def test_non_idempotent_is_not_retried() -> None:
    handler, seen = _script(503)
    with pytest.raises(ThemisHTTPError):
        _client(handler, []).begin_transaction()
    assert seen == ["POST /transaction/begin"]


def test_edge_creation_is_retried_under_its_own_key() -> None:
    bodies: list[bytes] = []
    statuses = [503]

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        if statuses:
            status = statuses.pop()
            body = {"error": True, "message": "busy", "status_code": status}
            return httpx.Response(status, json=body)
        return httpx.Response(201, json={"id": "graph.default.edges:x"})

    sleeps: list[float] = []
    _client(handler, sleeps).add_edge("a.b.c:1", "a.b.c:2")
    assert len(bodies) == 2
    assert bodies[0] == bodies[1]
    assert sleeps == [0.05]


def test_4xx_is_not_retried() -> None:
    handler, seen = _script(400)
    with pytest.raises(ThemisHTTPError):
        _client(handler, []).put("relational", "users", "1", {})
    assert len(seen) == 1


def test_connection_errors_are_retried_then_propagate() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(httpx.ConnectError):
        _client(handler, []).get("relational", "users", "1")
    assert seen.count("/entities/relational.default.users:1") == 4


@pytest.mark.parametrize("status", [501, 507])
def test_a_5xx_that_retrying_cannot_mend_is_not_retried(status: int) -> None:
    handler, seen = _script(status, 200)
    sleeps: list[float] = []
    with pytest.raises(ThemisHTTPError) as info:
        _client(handler, sleeps).put("relational", "users", "1", {"a": 1})
    assert info.value.status_code == status
    assert seen == ["PUT /entities/relational.default.users:1"]
    assert sleeps == []
