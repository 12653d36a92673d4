"""Commits that span shards: two-phase commit, coordinated by the transaction's node.

A transaction that wrote on other shards (through its parts there, see
`shard_parts`) commits in two phases. First each of those parts is prepared: checked
for conflicts, its keys reserved, made durable. If any refuses, every part is rolled
back and the commit is a 409: nothing was applied anywhere. Otherwise the node
applies its own writes together with a durable record of the decision, the moment the
transaction commits, and then tells each shard to commit its part.

A shard that misses the word learns it later. The node re-sends it for every
recorded decision until each shard has taken it, and a shard that has held a prepared
part for a while asks the coordinator what became of the transaction: one the
coordinator neither has open nor recorded has rolled back, since ids never repeat.
Both happen on the node's recovery thread, which also finishes what a crash left.
"""

from __future__ import annotations

import functools
import logging
import threading
import time

import anyio.to_thread
import httpx

from themis import _json
from themis.server import shard_parts
from themis.server.errors import ServerError, Unavailable
from themis.server.state import NodeState
from themis.server.transactions import Coordinator, Status, Transaction

__all__ = ["RESOLVE_AFTER", "Recovery", "commit"]

logger = logging.getLogger(__name__)

RESOLVE_AFTER = 2.0
"""Seconds a prepared part or a decision waits before recovery takes it up."""

_INTERVAL = 0.5


async def commit(node: NodeState, txn: Transaction) -> None:
    """Commits a transaction that wrote on other shards, all or nothing.

    Raises:
        Conflict: a part could not be prepared, or the node's own writes conflict;
            nothing was applied.
        Unavailable: a shard did not answer while the parts were prepared; nothing
            was applied.
    """
    manager = node.transactions
    manager.decide(txn)
    with txn.lock:
        # The parts that wrote end here; those that only read end with the
        # transaction, in the background.
        parts = {
            shard_id: txn.remote.pop(shard_id)
            for shard_id in txn.remote_writes
            if shard_id in txn.remote  # else its part never opened: nothing to do
        }
    try:
        await anyio.to_thread.run_sync(_prepare_all, node, txn, parts)
        # Refused or failed, this write leaves no decision behind.
        await manager.commit_decided(txn, parts)
    except Exception as exc:
        # The storage reports every failure of the decision's write as a
        # ServerError, so nothing was decided: every part rolls back.
        manager.abandon(txn)
        await anyio.to_thread.run_sync(
            functools.partial(shard_parts.end_parts, commit=False),
            node,
            txn.ident,
            parts,
        )
        if isinstance(exc, ServerError):
            raise
        raise Unavailable(f"transaction {txn.ident} did not commit: {exc}") from exc
    told = functools.partial(shard_parts.end_parts, commit=True)
    if await anyio.to_thread.run_sync(told, node, txn.ident, parts):
        # The record only serves parts that missed the word: none did, and its
        # removal need not hold up the answer.
        node.peer_pool.submit(manager.forget, txn.ident)


def _prepare_all(node: NodeState, txn: Transaction, parts: dict[str, int]) -> None:
    urls = dict(node.peers())
    coordinator = [node.shard_id, txn.ident]

    def prepare(shard_id: str, ident: int) -> None:
        if shard_id not in urls:
            raise Unavailable(
                f"shard {shard_id!r}, which holds writes of transaction "
                f"{txn.ident}, left the topology"
            )
        body = {"transaction_id": ident, "coordinator": coordinator}
        url = f"{urls[shard_id]}/transaction/prepare"
        shard_parts.post(node, txn.ident, shard_id, url, body)

    shard_parts.each_part(node, parts, prepare)


class Recovery:
    """The thread that carries unfinished two-phase commits through.

    As coordinator it re-sends every recorded decision older than
    :data:`RESOLVE_AFTER` until all its parts have committed, then forgets it. As
    participant it asks the coordinator of every part prepared that long ago for
    the outcome, and commits or rolls back as told.
    """

    def __init__(self, node: NodeState) -> None:
        self._node = node
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="themis-2pc-recovery", daemon=True
        )
        self._seen: dict[int, float] = {}

    def start(self) -> None:
        """Starts the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stops the thread, waiting a few seconds at most for a pass to end.

        A pass stuck on a shard that does not answer is left behind: its writes
        then meet a closed storage and fail, and the next start takes over.
        """
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def step(self) -> None:
        """One pass over the recorded decisions and the prepared parts."""
        self._resend_decisions()
        self._resolve_prepared()

    def _run(self) -> None:
        while not self._stop.wait(_INTERVAL):
            try:
                self.step()
            except Exception:
                logger.exception("two-phase commit recovery failed; trying again")

    def _resend_decisions(self) -> None:
        manager = self._node.transactions
        now = time.monotonic()
        decisions = manager.decisions()
        known = {ident for ident, _ in decisions}
        self._seen = {i: t for i, t in self._seen.items() if i in known}
        for ident, parts in decisions:
            first_seen = self._seen.setdefault(ident, now)
            if now - first_seen < RESOLVE_AFTER:
                continue  # the commit that made it is likely still sending the word
            if shard_parts.end_parts(self._node, ident, parts, commit=True):
                manager.forget(ident)

    def _resolve_prepared(self) -> None:
        manager = self._node.transactions
        now = time.monotonic()
        for txn in manager.prepared():
            if now - txn.prepared_at < RESOLVE_AFTER or txn.coordinator is None:
                continue
            outcome = self._ask(txn.coordinator)
            if outcome not in (Status.COMMITTED, Status.ROLLED_BACK):
                continue  # still deciding, or no answer: ask again later
            try:
                manager.finish_prepared(txn, commit=outcome is Status.COMMITTED)
            except ServerError as exc:
                # Finished meanwhile by the coordinator's own word, or storage
                # trouble that the next pass meets again.
                logger.info("prepared transaction %s: %s", txn.ident, exc.message)

    def _ask(self, coordinator: Coordinator) -> Status | None:
        urls = dict(self._node.peers())
        url = urls.get(coordinator.shard_id)
        if url is None:
            logger.warning(
                "coordinator shard %r of transaction %s is not in the topology",
                coordinator.shard_id,
                coordinator.transaction_id,
            )
            return None
        try:
            response = self._node.peer_http.get(
                f"{url}/transaction/outcome",
                params={"transaction_id": coordinator.transaction_id},
            )
            response.raise_for_status()
            return Status(_json.loads(response.content)["status"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            logger.info(
                "no outcome yet for transaction %s from shard %r: %s",
                coordinator.transaction_id,
                coordinator.shard_id,
                exc,
            )
            return None
