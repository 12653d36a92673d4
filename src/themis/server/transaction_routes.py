"""``/transaction/*`` and the ``X-Transaction-Id`` header of data routes."""

from __future__ import annotations

import functools
import time
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from themis.server import two_phase
from themis.server.auth import holds_scope
from themis.server.errors import BadRequest, Forbidden
from themis.server.http import json_response, read_object
from themis.server.state import node_of
from themis.server.transactions import (
    Coordinator,
    Isolation,
    Status,
    Transaction,
    parse_ident,
)

HEADER = "x-transaction-id"


def transaction_of(request: Request) -> Transaction | None:
    """The open transaction a data request names in ``X-Transaction-Id``, if any.

    Raises:
        BadRequest: the header is not an integer.
        NotFound: the transaction is not open.
    """
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    return node_of(request).transactions.lookup(raw)


def refuse_transaction(request: Request, what: str) -> None:
    """Refuses a definition change sent inside a transaction.

    Definitions (indexes, vector indexes, named graphs) apply at once for every
    reader, so a transaction could not roll them back.

    Raises:
        BadRequest: the request names a transaction.
    """
    raw = request.headers.get(HEADER)
    if raw is not None:
        raise BadRequest(
            f"{what} does not take part in transactions: definitions apply at once; "
            f"expected no X-Transaction-Id header, received {raw!r:.40}"
        )


async def begin(request: Request) -> Response:
    body = await read_object(request, required=False)
    raw = body.get("isolation", Isolation.READ_COMMITTED.value)
    try:
        isolation = Isolation(raw)
    except ValueError as exc:
        raise BadRequest(
            "expected 'isolation' to be 'read_committed' or 'snapshot', "
            f"received {raw!r:.40}"
        ) from exc
    txn = node_of(request).transactions.begin(isolation)
    return json_response(
        {
            "transaction_id": txn.ident,
            "isolation": txn.isolation.value,
            "status": "active",
        }
    )


async def commit(request: Request) -> Response:
    node = node_of(request)
    manager = node.transactions
    txn = manager.lookup(await _ident(request), prepared=True)
    if txn.status is Status.PREPARED:
        _check_may_end(request, txn)
        await anyio.to_thread.run_sync(
            functools.partial(manager.finish_prepared, txn, commit=True)
        )
    elif txn.remote_writes:
        await two_phase.commit(node, txn)
    else:
        await manager.commit(txn)
    return json_response(
        {
            "transaction_id": txn.ident,
            "status": txn.status.value,
            "message": f"committed {len(txn.writes)} writes",
        }
    )


async def rollback(request: Request) -> Response:
    manager = node_of(request).transactions
    txn = manager.lookup(await _ident(request), prepared=True)
    if txn.status is Status.PREPARED:
        _check_may_end(request, txn)
        await anyio.to_thread.run_sync(
            functools.partial(manager.finish_prepared, txn, commit=False)
        )
    else:
        manager.rollback(txn)
    return json_response(
        {
            "transaction_id": txn.ident,
            "status": txn.status.value,
            "message": f"discarded {len(txn.writes)} writes",
        }
    )


async def prepare(request: Request) -> Response:
    """Phase one of a commit another shard coordinates (see `two_phase`)."""
    body = await read_object(request)
    manager = node_of(request).transactions
    txn = manager.lookup(_ident_of(body))
    coordinator = _coordinator(body)
    if coordinator.shard_id not in dict(node_of(request).peers()):
        # Its parts would ask a shard that does not exist, and wait for ever.
        raise BadRequest(
            "expected 'coordinator' to name a shard of this cluster, received "
            f"{coordinator.shard_id!r:.80}"
        )
    if txn.remote_writes:
        raise BadRequest(
            f"transaction {txn.ident} wrote on other shards itself; only its own "
            "commit can coordinate it"
        )
    await manager.prepare(txn, coordinator)
    return json_response(
        {
            "transaction_id": txn.ident,
            "status": txn.status.value,
            "message": f"prepared {len(txn.writes)} writes",
        }
    )


async def outcome(request: Request) -> Response:
    """What became of a transaction this node coordinated (asked by its parts)."""
    raw = request.query_params.get("transaction_id")
    if raw is None:
        raise BadRequest("missing required query parameter 'transaction_id'")
    ident = parse_ident(raw)
    status = node_of(request).transactions.outcome(ident)
    return json_response({"transaction_id": ident, "status": status.value})


async def prepared(request: Request) -> Response:
    """The prepared parts waiting here, oldest first, for operators."""
    now = time.monotonic()
    parts = [
        {
            "transaction_id": txn.ident,
            "coordinator": list(txn.coordinator) if txn.coordinator else None,
            "writes": len(txn.writes),
            "waiting_seconds": round(now - txn.prepared_at, 3),
        }
        for txn in node_of(request).transactions.prepared()
    ]
    return json_response({"prepared": parts})


async def stats(request: Request) -> Response:
    return json_response(node_of(request).transactions.summary())


async def _ident(request: Request) -> object:
    return _ident_of(await read_object(request))


def _ident_of(body: dict[str, Any]) -> object:
    if "transaction_id" not in body:
        raise BadRequest("missing required field 'transaction_id'")
    return body["transaction_id"]


def _check_may_end(request: Request, txn: Transaction) -> None:
    """Only nodes (or an operator with their token) end a prepared part.

    Raises:
        Forbidden: the token lacks the ``cluster`` scope.
    """
    if not holds_scope(request, "cluster"):
        raise Forbidden(
            f"transaction {txn.ident} is a prepared part of a commit coordinated "
            "elsewhere: ending it takes the 'cluster' scope"
        )


def _coordinator(body: dict[str, Any]) -> Coordinator:
    raw = body.get("coordinator")
    if isinstance(raw, list) and len(raw) == 2 and isinstance(raw[0], str) and raw[0]:
        return Coordinator(raw[0], parse_ident(raw[1]))
    raise BadRequest(
        f"expected 'coordinator' to be [shard id, transaction id], received {raw!r:.80}"
    )


routes = [
    Route("/transaction/begin", begin, methods=["POST"]),
    Route("/transaction/commit", commit, methods=["POST"]),
    Route("/transaction/rollback", rollback, methods=["POST"]),
    Route("/transaction/prepare", prepare, methods=["POST"]),
    Route("/transaction/outcome", outcome, methods=["GET"]),
    Route("/transaction/prepared", prepared, methods=["GET"]),
    Route("/transaction/stats", stats, methods=["GET"]),
]
