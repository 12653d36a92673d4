"""What a node does while a rebalance moves its documents: its maintenance state.

During a rebalance (the steps are in `rebalance`) the node holds a *target*
topology. `TopologyGate` answers requests that touch documents with 503 and
``Retry-After`` until it ends, except reads of keys, which `fill_moving` completes
from the shards that may hold a key on the move. The target, and the topology a
node adopts at the end, are kept in the node's store, so that `restore` brings both
back when the node starts again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from themis import _json, _routing
from themis._core.protocol import TOPOLOGY_VERSION_HEADER
from themis.server import peers, shard_parts
from themis.server.http import PEER_HEADER
from themis.server.state import NodeState, node_of, shard_url

__all__ = [
    "ADOPTED_KEY",
    "TARGET_KEY",
    "TopologyGate",
    "fill_moving",
    "restore",
    "shard_ids",
]

RETRY_AFTER_SECONDS = 1
#: Where the node keeps its target topology, and the topology it adopted last.
TARGET_KEY = b"rebalance\x1ftarget"
ADOPTED_KEY = b"rebalance\x1fadopted"

# Every answer names the version of the topology the node routes by.
_VERSION_HEADER = TOPOLOGY_VERSION_HEADER.lower().encode()
# Routes that stay up during a rebalance: none of them reads or writes documents.
_OPEN_PATHS = frozenset(
    {"/", "/health", "/stats", "/metrics", "/_admin/cluster/topology"}
)
_OPEN_PREFIX = "/_internal/rebalance"
# Reads of keys stay up: a document is on its old shard or its new one (see
# `fill_moving`), while a query could meet it on both or neither.
_READS = (("GET", "/entities/"), ("POST", "/batch/get"))


def restore(node: NodeState) -> None:
    """At start: resume maintenance, and keep a topology adopted after the file's."""
    with node.storage.snapshot() as view:
        target, adopted = view.get("meta", TARGET_KEY), view.get("meta", ADOPTED_KEY)
    if adopted is not None and node.topology is not None:
        kept = _json.loads(adopted)
        if kept.get("version", 1) > node.topology.get("version", 1):
            node.topology = kept
    if target is not None:
        node.rebalance = _json.loads(target)


class TopologyGate:
    """ASGI middleware: names the node's topology version on every answer, and
    refuses requests that touch documents while a rebalance moves them."""

    def __init__(self, app: ASGIApp, node: NodeState) -> None:
        self.app = app
        self.node = node

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = self.node.rebalance
        path: str = scope["path"]
        if target is not None and not _open(scope["method"], path):
            await _refuse(send, target)
            return
        version = str(self.node.current_topology().get("version", 1)).encode()

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.append((_VERSION_HEADER, version))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, stamped)


def _open(method: str, path: str) -> bool:
    if path in _OPEN_PATHS or path.startswith(_OPEN_PREFIX):
        return True
    return any(method == m and path.startswith(prefix) for m, prefix in _READS)


async def fill_moving(
    request: Request,
    wire_keys: Sequence[str],
    blobs: list[bytes | None],
    invalid: Mapping[int, str] = {},
) -> None:
    """During a rebalance, fills in the keys this node lacks from the shards that
    may hold them: the owner under the topology and the owner under the target.

    A document leaves its old shard only once its new shard stored it, and nothing
    writes meanwhile, so it is found on one of the two.
    """
    node = node_of(request)
    target = node.rebalance
    if target is None or PEER_HEADER in request.headers:
        return
    urls = {
        **{str(s["id"]): shard_url(s) for s in target["shards"]},
        **dict(node.peers()),
    }
    current = [shard_id for shard_id, _ in node.peers()]
    routers = (_routing.router(current), _routing.router(shard_ids(target)))
    asks: dict[str, list[int]] = {}
    for position, blob in enumerate(blobs):
        if blob is not None or position in invalid:
            continue
        routed = _routing.routing_key(wire_keys[position])
        for shard_id in {router.owner(routed) for router in routers} - {node.shard_id}:
            asks.setdefault(shard_id, []).append(position)
    if not asks:
        return

    def read(shard_id: str, positions: list[int]) -> list[tuple[int, bytes | None]]:
        keys = [wire_keys[p] for p in positions]
        texts = peers.stored_texts(
            node, shard_id, urls[shard_id], keys, purpose="keys on the move"
        )
        return list(zip(positions, texts, strict=True))

    answers = await anyio.to_thread.run_sync(shard_parts.each_part, node, asks, read)
    for pairs in answers:
        for position, text in pairs:
            if text is not None:
                blobs[position] = text


async def _refuse(send: Send, target: dict[str, Any]) -> None:
    message = (
        f"the cluster is moving documents between shards (a rebalance to topology "
        f"version {target.get('version')}); retry in a moment"
    )
    body = _json.dumps({"error": True, "message": message, "status_code": 503})
    headers = [
        (b"content-type", b"application/json"),
        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def shard_ids(topology: dict[str, Any]) -> list[str]:
    """The ids of a topology's shards."""
    return [str(shard["id"]) for shard in topology["shards"]]
