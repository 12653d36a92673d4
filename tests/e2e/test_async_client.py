"""The async client against real nodes: the same behaviour as the sync client."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from themis import AsyncThemisClient, ThemisHTTPError
from themis.server.launcher import LocalCluster, NodeProcess


def _namespace() -> str:
    return f"async{uuid.uuid4().hex[:8]}"


def test_quickstart_calls(node: NodeProcess) -> None:
    async def scenario() -> None:
        async with AsyncThemisClient([node.url], namespace=_namespace()) as client:
            assert (await client.health())["status"] == "healthy"
            assert await client.put("relational", "users", "u1", {"name": "Ann"})
            assert await client.get("relational", "users", "u1") == {"name": "Ann"}
            assert await client.delete("relational", "users", "u1") is True
            assert await client.get("relational", "users", "u1") is None
            assert await client.delete("relational", "users", "u1") is False

    asyncio.run(scenario())


def test_batches_and_cursor_pages(cluster: LocalCluster) -> None:
    docs = {str(i): {"i": i} for i in range(50)}

    async def scenario() -> None:
        async with AsyncThemisClient(
            cluster.urls[:1], namespace=_namespace()
        ) as client:
            written = await client.batch_put("relational", "items", docs)
            batch = await client.batch_get("relational", "items", [*docs, "nope"])
            assert sorted(written.succeeded) == sorted(docs)
            assert batch.found == docs
            assert batch.missing == ["nope"]

            text = "FOR d IN items SORT d.i RETURN d.i"
            page = await client.query(text, use_cursor=True, batch_size=7)
            rows = list(page.items)
            while page.has_more:
                page = await client.query(
                    text, use_cursor=True, cursor=page.next_cursor
                )
                rows += page.items
            assert rows == list(range(50))
            assert [r async for r in client.query_iter(text, batch_size=9)] == rows

    asyncio.run(scenario())


def test_transactions_commit_and_roll_back(node: NodeProcess) -> None:
    async def scenario() -> None:
        async with AsyncThemisClient([node.url], namespace=_namespace()) as client:
            async with await client.begin_transaction() as txn:
                await txn.put("relational", "acct", "a", {"v": 1})
                assert await client.get("relational", "acct", "a") is None
            assert await client.get("relational", "acct", "a") == {"v": 1}

            txn = await client.begin_transaction()
            await txn.put("relational", "acct", "b", {"v": 2})
            await txn.rollback()
            assert await client.get("relational", "acct", "b") is None

    asyncio.run(scenario())


def test_errors_are_httpx_status_errors(node: NodeProcess) -> None:
    async def scenario() -> None:
        async with AsyncThemisClient([node.url]) as client:
            with pytest.raises(httpx.HTTPStatusError) as caught:
                await client.query("FOR u IN")
            assert isinstance(caught.value, ThemisHTTPError)
            assert caught.value.response.status_code == 400

    asyncio.run(scenario())


def test_retries_sleep_without_blocking() -> None:
    answers = iter([503, 503, 200])
    slept: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/_admin/cluster/topology":
            return httpx.Response(
                404, json={"error": True, "message": "Endpoint not found"}
            )
        status = next(answers)
        body = (
            {"key": "k", "blob": '{"ok": true}'}
            if status == 200
            else {"error": True, "message": "busy"}
        )
        return httpx.Response(status, json=body)

    async def record(delay: float) -> None:
        slept.append(delay)

    async def scenario() -> None:
        client = AsyncThemisClient(
            ["http://node:1"], transport=httpx.MockTransport(handler), _sleep=record
        )
        async with client:
            assert await client.get("relational", "users", "x") == {"ok": True}

    asyncio.run(scenario())
    assert len(slept) == 2
