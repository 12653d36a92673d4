"""Keys of other shards, outside transactions.

On a cluster a key lives on the shard its hash names. A client that does not route
(anything but the SDK, which marks each batch with the shard it routed it to) may
send any key to any node; the node passes the keys other shards own to those
shards and merges their answers into its own, so every write lands where readers
look. Inside a transaction its parts do this instead, and requests from other
shards are always for the shard they reach.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from themis._core.protocol import SHARD_HEADER, TOPOLOGY_VERSION_HEADER
from themis.server import peers, shard_parts
from themis.server.errors import ServerError
from themis.server.http import PEER_HEADER
from themis.server.keys import DocKey
from themis.server.state import NodeState, node_of
from themis.server.transaction_routes import transaction_of

__all__ = [
    "Outcomes",
    "at_owner",
    "at_owners",
    "owned_elsewhere",
    "passes_on",
    "read_at_owners",
]

_OWN_KEYS = "the keys it owns"


async def at_owner(
    request: Request, key: DocKey, method: str, body: dict[str, Any] | None = None
) -> Response | None:
    """The answer of the shard that owns ``key`` to a single-key request, when that
    shard is not this one (``None``: serve it here)."""
    if PEER_HEADER in request.headers or transaction_of(request) is not None:
        return None
    node = node_of(request)
    if node.rebalance is not None or _routed_since(request, node):
        # During a rebalance the key may be here or on its new shard (see
        # maintenance.fill_moving); only reads get this far.
        return None
    foreign = shard_parts.foreign_owners(node, [key.wire])
    if not foreign:
        return None
    shard_id = foreign[0]
    url = dict(node.peers())[shard_id] + "/entities/" + quote(key.wire, safe=":")
    answer = await anyio.to_thread.run_sync(
        partial(peers.send, purpose=f"for {key.wire!r}, which it owns"),
        node,
        shard_id,
        method,
        url,
        body,
    )
    return Response(
        answer.content,
        status_code=answer.status_code,
        media_type="application/json",
    )


@dataclass
class Outcomes:
    """What the shards owning some of a batch's keys answered for them."""

    succeeded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def passes_on(request: Request) -> bool:
    """Whether this node must pass on the keys of a batch that other shards own:
    outside transactions, on a cluster, for a client that did not route them here
    by this node's topology (the SDK names the shard it routed a batch to and the
    topology version it routed by; shards ask for their own keys).
    """
    if transaction_of(request) is not None or PEER_HEADER in request.headers:
        return False
    node = node_of(request)
    if len(node.peers()) < 2:
        return False
    routed_here = request.headers.get(SHARD_HEADER) == node.shard_id
    return not (routed_here and _routed_since(request, node))


def _routed_since(request: Request, node: NodeState) -> bool:
    """Whether the client routed the request by this node's topology or a newer one.

    A client with an older topology may send keys this shard has given away; one
    with a newer topology than this node has read yet knows their owner better.
    """
    sent = request.headers.get(TOPOLOGY_VERSION_HEADER, "")
    version = node.current_topology().get("version", 1)
    return sent.isdigit() and isinstance(version, int) and int(sent) >= version


def owned_elsewhere(
    request: Request, wire_keys: Sequence[str], skip: Mapping[int, Any] = {}
) -> dict[str, list[int]]:
    """The positions of the keys other shards own, by shard, when this node must
    pass them on (see `passes_on`)."""
    if not passes_on(request):
        return {}
    by_shard: dict[str, list[int]] = {}
    owners = shard_parts.foreign_owners(node_of(request), wire_keys, skip)
    for position, shard_id in owners.items():
        by_shard.setdefault(shard_id, []).append(position)
    return by_shard


async def at_owners(
    request: Request, path: str, parts: dict[str, tuple[list[str], dict[str, Any]]]
) -> Outcomes:
    """Sends each owning shard its part of a batch write and gathers the answers.

    Args:
        parts: By shard id, the wire keys of its part and the body to send it.

    A shard that does not answer fails only its own keys, as a batch does.
    """
    node = node_of(request)
    urls = dict(node.peers())

    def ask(
        shard_id: str, part: tuple[list[str], dict[str, Any]]
    ) -> dict[str, Any] | ServerError:
        try:
            return peers.ask(
                node, shard_id, urls[shard_id] + path, part[1], purpose=_OWN_KEYS
            )
        except ServerError as exc:
            return exc

    answers = await anyio.to_thread.run_sync(shard_parts.each_part, node, parts, ask)
    outcomes = Outcomes()
    for (keys, _), answer in zip(parts.values(), answers, strict=True):
        if isinstance(answer, ServerError):
            outcomes.failed.update(dict.fromkeys(keys, answer.message))
            continue
        outcomes.succeeded += _strings_in(answer, "succeeded")
        outcomes.missing += _strings_in(answer, "missing")
        reported = answer.get("failed") or {}
        outcomes.failed.update((str(k), str(v)) for k, v in reported.items())
    return outcomes


def _strings_in(answer: dict[str, Any], name: str) -> list[str]:
    return [item for item in answer.get(name) or () if isinstance(item, str)]


async def read_at_owners(
    request: Request,
    wire_keys: Sequence[str],
    blobs: list[bytes | None],
    invalid: Mapping[int, str],
) -> None:
    """Fills in what the owning shards hold for keys this node does not own."""
    elsewhere = owned_elsewhere(request, wire_keys, invalid)
    if not elsewhere:
        return
    node = node_of(request)
    urls = dict(node.peers())

    def read(shard_id: str, positions: list[int]) -> list[Any]:
        keys = [wire_keys[p] for p in positions]
        url = urls[shard_id]
        texts = peers.stored_texts(node, shard_id, url, keys, purpose=_OWN_KEYS)
        return list(zip(positions, texts, strict=True))

    answers = await anyio.to_thread.run_sync(
        shard_parts.each_part, node, elsewhere, read
    )
    for pairs in answers:
        for position, text in pairs:
            blobs[position] = text
