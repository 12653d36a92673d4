"""Requests from this node to the other shards of its cluster, outside transactions.

Every such request carries the peer header (see `NodeState.peer_http`), so the shard
that receives it answers for itself alone and never forwards it again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from themis import _json
from themis.server.errors import Unavailable
from themis.server.shard_parts import each_part
from themis.server.state import NodeState

__all__ = ["answer_of", "each_other", "others", "post"]

T = TypeVar("T")


def others(node: NodeState) -> dict[str, str]:
    """The URL of every other shard of the cluster, by shard id."""
    return {sid: url for sid, url in node.peers() if sid != node.shard_id}


def each_other(node: NodeState, work: Callable[[str, str], T]) -> dict[str, T]:
    """``work(shard id, URL)`` for every other shard, in parallel, by shard id.

    Raises:
        ServerError: the first one a shard's work raised, once all have finished.
    """
    shards = others(node)
    return dict(zip(shards, each_part(node, shards, work), strict=True))


def post(
    node: NodeState, shard_id: str, url: str, body: Any, *, purpose: str
) -> httpx.Response:
    """Posts ``body`` as JSON to another shard.

    Args:
        purpose: What the request is for, to name in the error.

    Raises:
        Unavailable: the shard did not answer.
    """
    try:
        return node.peer_http.post(
            url,
            content=_json.dumps(body),
            headers={"content-type": "application/json"},
        )
    except httpx.HTTPError as exc:
        raise Unavailable(
            f"shard {shard_id!r} did not answer {purpose}: {exc}"
        ) from None


def answer_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON object a shard answered with; empty when it is not one."""
    try:
        payload = _json.loads(response.content)
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
