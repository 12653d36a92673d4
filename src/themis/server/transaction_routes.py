"""``/transaction/*`` and the ``X-Transaction-Id`` header of data routes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from themis.server.errors import BadRequest
from themis.server.http import json_response, read_object
from themis.server.state import node_of
from themis.server.transactions import Isolation, Transaction

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
    manager = node_of(request).transactions
    txn = manager.lookup(await _ident(request))
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
    txn = manager.lookup(await _ident(request))
    manager.rollback(txn)
    return json_response(
        {
            "transaction_id": txn.ident,
            "status": txn.status.value,
            "message": f"discarded {len(txn.writes)} writes",
        }
    )


async def stats(request: Request) -> Response:
    return json_response(node_of(request).transactions.summary())


async def _ident(request: Request) -> object:
    body = await read_object(request)
    if "transaction_id" not in body:
        raise BadRequest("missing required field 'transaction_id'")
    return body["transaction_id"]


routes = [
    Route("/transaction/begin", begin, methods=["POST"]),
    Route("/transaction/commit", commit, methods=["POST"]),
    Route("/transaction/rollback", rollback, methods=["POST"]),
    Route("/transaction/stats", stats, methods=["GET"]),
]
