"""A transaction's parts on the other shards of a cluster.

A transaction lives on the node it began on. The first time it touches a key that
another shard owns, its node opens a transaction of the same isolation on that shard
and sends every later read and write of that shard's keys through it: a ``snapshot``
transaction sees each shard as of its first touch there and its reads repeat, and
writes wait in the shard's transaction until the commit, which prepares and commits
them in two phases (`two_phase`). Parts that only read are rolled back when the
transaction ends.

Every function here may wait on the network, so routes call them on a worker thread.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from themis import _json, _routing
from themis._core.protocol import TRANSACTION_HEADER
from themis.server.errors import BadRequest, Conflict, Unavailable
from themis.server.state import NodeState
from themis.server.transactions import Status, Transaction

__all__ = [
    "ask_parts",
    "delete",
    "each_part",
    "end_parts",
    "foreign_owners",
    "post",
    "query_headers",
    "read",
    "release",
    "write",
    "write_parts",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
V = TypeVar("V")


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
    if skip:
        positions = [p for p in range(len(wire_keys)) if p not in skip]
        kept = [wire_keys[p] for p in positions]
    else:
        positions, kept = list(range(len(wire_keys))), list(wire_keys)
    return {
        positions[index]: owner
        for index, owner in _routing.owners_of(router, kept)
        if owner != node.shard_id
    }


def read(
    node: NodeState, txn: Transaction, wire_keys: Sequence[str], owners: dict[int, str]
) -> dict[int, bytes | None]:
    """Reads the keys at the positions of ``owners`` from their shards.

    Returns:
        Each position's stored text, or ``None`` where the shard has no document.

    Raises:
        Unavailable: a shard did not answer.
        Conflict: the transaction's part on a shard has expired.
    """
    urls = dict(node.peers())

    def read_shard(shard_id: str, wanted: list[int]) -> list[bytes | None]:
        keys = [wire_keys[p] for p in wanted]
        return _batch_get(node, txn, shard_id, urls[shard_id], keys)

    groups = _by_shard(owners)
    found: dict[int, bytes | None] = {}
    for wanted, texts in zip(
        groups.values(), each_part(node, groups, read_shard), strict=True
    ):
        found.update(zip(wanted, texts, strict=True))
    return found


def write(
    node: NodeState,
    txn: Transaction,
    items: Sequence[tuple[str, bytes]],
    owners: dict[int, str],
) -> None:
    """Buffers the writes ``(wire key, stored text)`` at ``owners``' positions in
    the transaction's parts on their shards.

    Raises:
        Unavailable: a shard did not answer.
        Conflict: the transaction's part on a shard has expired.
    """
    urls = dict(node.peers())

    def write_shard(shard_id: str, wanted: list[int]) -> None:
        entries = [{"key": items[p][0], "blob": items[p][1].decode()} for p in wanted]
        # Marked first: a write the shard took without its answer arriving is
        # then still prepared and committed with the rest, never dropped.
        _written(txn, shard_id)
        answer = _in_part(
            node, txn, shard_id, urls[shard_id], "/batch/put", {"items": entries}
        )
        if answer.get("failed"):
            raise Unavailable(
                f"shard {shard_id!r} refused writes of transaction {txn.ident}: "
                f"{answer['failed']!r:.200}"
            )

    each_part(node, _by_shard(owners), write_shard)


def delete(
    node: NodeState, txn: Transaction, keys: Sequence[str], owners: dict[int, str]
) -> dict[int, bool]:
    """Buffers the deletes of the keys at ``owners``' positions in the transaction's
    parts on their shards; returns, per position, whether the document existed.

    Raises:
        Unavailable: a shard did not answer.
        Conflict: the transaction's part on a shard has expired.
    """
    urls = dict(node.peers())

    def delete_shard(shard_id: str, wanted: list[int]) -> dict[int, bool]:
        body = {"keys": [keys[p] for p in wanted]}
        _written(txn, shard_id)
        answer = _in_part(node, txn, shard_id, urls[shard_id], "/batch/delete", body)
        gone = set(answer.get("succeeded") or ())
        return {p: keys[p] in gone for p in wanted}

    existed: dict[int, bool] = {}
    for outcome in each_part(node, _by_shard(owners), delete_shard):
        existed.update(outcome)
    return existed


def query_headers(node: NodeState, txn: Transaction) -> dict[str, dict[str, str]]:
    """The headers that put a query's requests to each other shard in the transaction.

    Raises:
        Unavailable: a shard did not answer.
    """
    others = {sid: url for sid, url in node.peers() if sid != node.shard_id}
    idents = each_part(
        node, others, lambda shard_id, url: _joined(node, txn, shard_id, url)
    )
    return {
        shard_id: {TRANSACTION_HEADER: str(ident)}
        for shard_id, ident in zip(others, idents, strict=True)
    }


def ask_parts(
    node: NodeState, txn: Transaction, path: str, body: dict[str, Any]
) -> list[dict[str, Any]]:
    """Posts ``body`` to ``path`` in the transaction's part on every other shard.

    Parts not open yet are opened; the shards answer in parallel, for their own
    data as the transaction sees it.

    Raises:
        Unavailable: a shard did not answer.
        Conflict: the transaction's part on a shard has expired.
    """
    others = {sid: url for sid, url in node.peers() if sid != node.shard_id}
    return each_part(
        node,
        others,
        lambda shard_id, url: _in_part(node, txn, shard_id, url, path, body),
    )


def write_parts(
    node: NodeState, txn: Transaction, path: str, bodies: Mapping[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Posts a write to ``path`` in the transaction's part on each shard of
    ``bodies``, with that shard's body, in parallel.

    Raises:
        Unavailable: a shard did not answer.
        Conflict: the transaction's part on a shard has expired.
    """
    urls = dict(node.peers())

    def write_shard(shard_id: str, body: dict[str, Any]) -> dict[str, Any]:
        # Marked first, as in `write`: a write taken without its answer arriving
        # is still committed with the rest.
        _written(txn, shard_id)
        return _in_part(node, txn, shard_id, urls[shard_id], path, body)

    return each_part(node, bodies, write_shard)


def release(node: NodeState, txn: Transaction) -> None:
    """Rolls back the transaction's parts on other shards, in the background.

    Called once the transaction has ended; after that no part is opened any more.
    """
    # The lock is only held while a part is being opened, which then ends here too.
    if txn.remote or txn.lock.locked():
        node.peer_pool.submit(_roll_back, node, txn)


def _by_shard(owners: dict[int, str]) -> dict[str, list[int]]:
    positions: dict[str, list[int]] = {}
    for position, owner in owners.items():
        positions.setdefault(owner, []).append(position)
    return positions


def _written(txn: Transaction, shard_id: str) -> None:
    with txn.lock:
        txn.remote_writes.add(shard_id)


def _in_part(
    node: NodeState,
    txn: Transaction,
    shard_id: str,
    url: str,
    path: str,
    body: dict[str, Any],
) -> dict[str, Any]:
    """Sends a request inside the transaction's part on a shard."""
    ident = _joined(node, txn, shard_id, url)
    return post(
        node,
        txn.ident,
        shard_id,
        f"{url}{path}",
        body,
        {TRANSACTION_HEADER: str(ident)},
    )


def _batch_get(
    node: NodeState, txn: Transaction, shard_id: str, url: str, keys: list[str]
) -> list[bytes | None]:
    body = {"keys": keys, "positional": True}
    payload = _in_part(node, txn, shard_id, url, "/batch/get", body)
    texts = payload.get("documents")
    if payload.get("errors") or not isinstance(texts, list) or len(texts) != len(keys):
        raise Unavailable(
            f"shard {shard_id!r} refused keys of transaction {txn.ident}: "
            f"{payload.get('errors')!r:.200}"
        )
    return [None if text is None else text.encode() for text in texts]


def _joined(node: NodeState, txn: Transaction, shard_id: str, url: str) -> int:
    """The id of the transaction's part on a shard, opened on first use."""
    with txn.lock:
        if txn.status is not Status.ACTIVE:
            raise Conflict(f"transaction {txn.ident} has ended")
        ident = txn.remote.get(shard_id)
        if ident is None:
            body = {"isolation": txn.isolation.value}
            begin = f"{url}/transaction/begin"
            answer = post(node, txn.ident, shard_id, begin, body)
            ident = txn.remote[shard_id] = int(answer["transaction_id"])
        return ident


def post(
    node: NodeState,
    coordinator: int,
    shard_id: str,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Posts a request of transaction ``coordinator`` to another shard.

    Raises:
        Unavailable: the shard did not answer, or not with a JSON object.
        Conflict: the shard answered 404 or 409 (the part has expired, or
            conflicts).
        BadRequest: the shard refused the request as malformed.
    """
    try:
        response = node.peer_http.post(url, content=_json.dumps(body), headers=headers)
    except httpx.HTTPError as exc:
        raise Unavailable(
            f"shard {shard_id!r} did not answer for transaction {coordinator}: {exc}"
        ) from None
    if response.status_code == 404:
        raise Conflict(
            f"transaction {coordinator} lost its part on shard {shard_id!r}, which "
            "rolls back transactions idle too long; retry the transaction"
        )
    if response.status_code == 409:
        raise Conflict(f"on shard {shard_id!r}: {_message(response)}")
    if response.status_code == 400:
        # Only what the shard alone could check (a vector's dimension there).
        raise BadRequest(f"on shard {shard_id!r}: {_message(response)}")
    if response.status_code != 200:
        # The keys were checked here already: a refusal means the shards disagree
        # (a secret, a version), which another node or a later try may mend.
        raise Unavailable(
            f"shard {shard_id!r} refused a request of transaction {coordinator} "
            f"with {response.status_code}: {_message(response)}"
        )
    try:
        payload = _json.loads(response.content)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise Unavailable(
            f"shard {shard_id!r} answered transaction {coordinator} with "
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
    # A part left behind is rolled back by its shard once idle long enough.
    end_parts(node, txn.ident, opened, commit=False, parallel=False)


def end_parts(
    node: NodeState,
    coordinator: int,
    parts: dict[str, int],
    *,
    commit: bool,
    parallel: bool = True,
) -> bool:
    """Tells every part to commit or roll back, all at once; whether each one has.

    A part that has ended already counts as done (a word sent twice, or a part
    that learned the outcome by asking).
    """
    urls = dict(node.peers())
    action = "commit" if commit else "rollback"

    def tell(shard_id: str, ident: int) -> bool:
        url = urls.get(shard_id)
        try:
            if url is None:
                raise httpx.ConnectError(f"shard {shard_id!r} left the topology")
            response = node.peer_http.post(
                f"{url}/transaction/{action}",
                content=_json.dumps({"transaction_id": ident}),
            )
        except httpx.HTTPError as exc:
            logger.warning(
                "could not %s part %s of transaction %s on shard %r: %s",
                action,
                ident,
                coordinator,
                shard_id,
                exc,
            )
            return False
        if response.status_code in (200, 404):
            return True
        logger.warning(
            "shard %r answered %s to %s part %s of transaction %s",
            shard_id,
            response.status_code,
            action,
            ident,
            coordinator,
        )
        return False

    return all(each_part(node, parts, tell, parallel=parallel))


def each_part(
    node: NodeState,
    parts: Mapping[str, V],
    work: Callable[[str, V], T],
    *,
    parallel: bool = True,
) -> list[T]:
    """``work(shard id, value)`` for every shard of ``parts``, all run to the end.

    Args:
        node: The node, whose peer threads run the work in parallel.
        parts: A value per shard id: a part's id, or the positions of its keys.
        work: What to do for one shard.
        parallel: False on a peer thread already, which must not wait for others.

    Raises:
        ServerError: the first one a shard's work raised, once all have finished.
    """
    if not parallel or len(parts) <= 1:
        return [work(shard_id, value) for shard_id, value in parts.items()]
    futures = [node.peer_pool.submit(work, *item) for item in parts.items()]
    concurrent.futures.wait(futures)
    return [future.result() for future in futures]
