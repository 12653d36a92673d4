"""A transaction's reads of documents that other shards own.

A transaction lives on the node it began on and writes only keys that node owns.
Its reads see the whole cluster: the first time it reads from another shard, its
node opens a transaction of the same isolation there and reads through it from then
on, so a ``snapshot`` transaction sees each shard as of its first read there and its
reads repeat. Those shard transactions only read; they are rolled back when the
transaction that opened them ends.

Every function here may wait on the network, so routes call them on a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from themis import _json, _routing
from themis.server.errors import Conflict, Unavailable
from themis.server.state import NodeState
from themis.server.transactions import Status, Transaction

__all__ = ["foreign_owners", "query_headers", "read", "release"]

logger = logging.getLogger(__name__)

HEADER = "X-Transaction-Id"


def foreign_owners(
    node: NodeState, wire_keys: Sequence[str], skip: Mapping[int, Any] = {}
) -> dict[int, str]:
    """The positions of the keys another shard owns, each with that shard's id.

    Args:
        node: The node serving the request.
        wire_keys: Checked keys ``table:pk``.
        skip: Positions to leave out (keys that failed their check).
    """
    shard_ids = [shard_id for shard_id, _ in node.peers()]
    if len(shard_ids) < 2:
        return {}
    router = _routing.router(shard_ids)
    owners: dict[int, str] = {}
    for position, key in enumerate(wire_keys):
        if position in skip:
            continue
        owner = router.owner(_routing.routing_key(key))
        if owner != node.shard_id:
            owners[position] = owner
    return owners


def read(
    node: NodeState, txn: Transaction, wire_keys: Sequence[str], owners: dict[int, str]
) -> dict[int, bytes | None]:
    """Reads the keys at the positions of ``owners`` from their shards.

    Returns:
        Each position's stored text, or ``None`` where the shard has no document.

    Raises:
        Unavailable: a shard did not answer.
        Conflict: the transaction's view on a shard has expired.
    """
    positions: dict[str, list[int]] = {}
    for position, owner in owners.items():
        positions.setdefault(owner, []).append(position)
    urls = dict(node.peers())
    found: dict[int, bytes | None] = {}
    for shard_id, wanted in positions.items():
        texts = _batch_get(
            node, txn, shard_id, urls[shard_id], [wire_keys[p] for p in wanted]
        )
        found.update(zip(wanted, texts, strict=True))
    return found


def query_headers(node: NodeState, txn: Transaction) -> dict[str, dict[str, str]]:
    """The headers that put a query's requests to each other shard in the transaction.

    Raises:
        Unavailable: a shard did not answer.
    """
    return {
        shard_id: {HEADER: str(_joined(node, txn, shard_id, url))}
        for shard_id, url in node.peers()
        if shard_id != node.shard_id
    }


def release(node: NodeState, txn: Transaction) -> None:
    """Rolls back the transaction's views on other shards, in the background.

    Called once the transaction has ended; after that no view is opened any more.
    """
    # The lock is only held while a view is being opened, which then ends here too.
    if txn.remote or txn.lock.locked():
        node.peer_pool.submit(_roll_back, node, txn)


def _batch_get(
    node: NodeState, txn: Transaction, shard_id: str, url: str, keys: list[str]
) -> list[bytes | None]:
    ident = _joined(node, txn, shard_id, url)
    body = {"keys": keys, "positional": True}
    payload = _call(
        node,
        txn,
        shard_id,
        f"{url}/batch/get",
        body,
        headers={HEADER: str(ident)},
    )
    texts = payload.get("documents")
    if payload.get("errors") or not isinstance(texts, list) or len(texts) != len(keys):
        raise Unavailable(
            f"shard {shard_id!r} refused keys of transaction {txn.ident}: "
            f"{payload.get('errors')!r:.200}"
        )
    return [None if text is None else text.encode() for text in texts]


def _joined(node: NodeState, txn: Transaction, shard_id: str, url: str) -> int:
    """The id of the transaction's view on a shard, opened on first use."""
    with txn.lock:
        if txn.status is not Status.ACTIVE:
            raise Conflict(f"transaction {txn.ident} has ended")
        ident = txn.remote.get(shard_id)
        if ident is None:
            body = {"isolation": txn.isolation.value}
            answer = _call(node, txn, shard_id, f"{url}/transaction/begin", body)
            ident = txn.remote[shard_id] = int(answer["transaction_id"])
        return ident


def _call(
    node: NodeState,
    txn: Transaction,
    shard_id: str,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    try:
        response = node.peer_http.post(url, content=_json.dumps(body), headers=headers)
    except httpx.HTTPError as exc:
        raise Unavailable(
            f"shard {shard_id!r} did not answer a read of transaction "
            f"{txn.ident}: {exc}"
        ) from None
    if response.status_code == 404:
        raise Conflict(
            f"transaction {txn.ident} lost its view on shard {shard_id!r}, which "
            "rolls back transactions idle too long; retry the transaction"
        )
    if response.status_code != 200:
        # The keys were checked here already: a refusal means the shards disagree
        # (a secret, a version), which no retry of this request by the client mends
        # by itself, but another node or a later try may.
        raise Unavailable(
            f"shard {shard_id!r} refused a read of transaction {txn.ident} with "
            f"{response.status_code}: {_message(response)}"
        )
    try:
        payload = _json.loads(response.content)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise Unavailable(
            f"shard {shard_id!r} answered a read of transaction {txn.ident} with "
            f"something other than a JSON object: {response.content[:100]!r}"
        )
    return payload


def _message(response: httpx.Response) -> str:
    try:
        return str(_json.loads(response.content).get("message", ""))
    except (ValueError, AttributeError):
        return response.text[:200]


def _roll_back(node: NodeState, txn: Transaction) -> None:
    with txn.lock:
        opened, txn.remote = txn.remote, {}
    urls = dict(node.peers())
    for shard_id, ident in opened.items():
        url = urls.get(shard_id)
        if url is None:
            continue
        try:
            node.peer_http.post(
                f"{url}/transaction/rollback",
                content=_json.dumps({"transaction_id": ident}),
            )
        except httpx.HTTPError as exc:
            # The shard rolls it back by itself once it has been idle long enough.
            logger.info(
                "could not end transaction %s on shard %r for transaction %s: %s",
                ident,
                shard_id,
                txn.ident,
                exc,
            )
