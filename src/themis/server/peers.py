"""Requests from this node to the other shards of its cluster, outside transactions.

Every such request carries the peer header (see `NodeState.peer_http`), so the shard
that receives it answers for itself alone and never forwards it again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from starlette.requests import Request

from themis import _json
from themis.server.errors import (
    BadRequest,
    Conflict,
    NotFound,
    ServerError,
    Unavailable,
)
from themis.server.http import PEER_HEADER
from themis.server.shard_parts import each_part
from themis.server.state import NodeState, node_of

__all__ = [
    "Outcome",
    "answer_of",
    "ask",
    "each_other",
    "on_others",
    "others",
    "post",
    "send",
    "stored_texts",
    "undo_on",
    "whole_cluster",
]

T = TypeVar("T")
#: What one shard made of a request: its JSON answer, or the error it amounts to.
Outcome = dict[str, Any] | ServerError
_REFUSALS: dict[int, type[ServerError]] = {
    400: BadRequest,
    404: NotFound,
    409: Conflict,
}


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
    return send(node, shard_id, "POST", url, body, purpose=purpose)


def ask(
    node: NodeState, shard_id: str, url: str, body: Any, *, purpose: str
) -> dict[str, Any]:
    """Posts ``body`` to another shard and returns the JSON object it answers.

    Raises:
        Unavailable: the shard did not answer, or not with 200 and an object.
    """
    response = post(node, shard_id, url, body, purpose=purpose)
    answer = answer_of(response)
    if response.status_code != 200 or not answer:
        raise Unavailable(
            f"shard {shard_id!r} refused {purpose} with {response.status_code}: "
            f"{answer.get('message', response.text[:200])}"
        )
    return answer


def stored_texts(
    node: NodeState, shard_id: str, url: str, keys: list[str], *, purpose: str
) -> list[bytes | None]:
    """The stored texts of keys another shard owns, in order; ``None`` where it has
    no document (``url`` is the shard's base URL).

    Raises:
        Unavailable: the shard did not answer, or not one text per key.
    """
    body = {"keys": keys, "positional": True}
    texts = ask(node, shard_id, url + "/batch/get", body, purpose=purpose)
    found = texts.get("documents")
    if not isinstance(found, list) or len(found) != len(keys):
        raise Unavailable(
            f"shard {shard_id!r} answered a read of {len(keys)} keys with "
            "something else"
        )
    return [None if text is None else str(text).encode() for text in found]


def send(
    node: NodeState,
    shard_id: str,
    method: str,
    url: str,
    body: Any = None,
    *,
    purpose: str,
) -> httpx.Response:
    """Sends a request with an optional JSON body to another shard.

    Raises:
        Unavailable: the shard did not answer.
    """
    try:
        return node.peer_http.request(
            method,
            url,
            content=None if body is None else _json.dumps(body),
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


def whole_cluster(request: Request) -> bool:
    """Whether a definition the request makes is for every shard of a cluster.

    A request from another shard is for that shard alone, as is any on one node.
    """
    return PEER_HEADER not in request.headers and len(node_of(request).peers()) > 1


def on_others(
    node: NodeState, method: str, path: str, body: Any = None
) -> dict[str, Outcome]:
    """Sends one request to every other shard, in parallel; each answers or fails
    alone, and a refusal keeps its status (400, 404, 409) and the shard's message.
    """

    def ask(shard_id: str, url: str) -> Outcome:
        try:
            response = send(node, shard_id, method, url + path, body, purpose=path)
        except Unavailable as exc:
            return exc
        answer = answer_of(response)
        if response.status_code in (200, 201):
            return answer
        message = f"shard {shard_id!r} refused {path}: {answer.get('message', '')}"
        refusal = _REFUSALS.get(response.status_code)
        if refusal is None:
            return Unavailable(f"{message} ({response.status_code})")
        return refusal(message)

    return each_other(node, ask)


def undo_on(
    node: NodeState, shard_ids: list[str], method: str, path: str, body: Any = None
) -> None:
    """Sends a request that undoes an earlier one to some other shards.

    Best effort: a shard that does not answer keeps what the earlier request made
    until the client repeats or reverts it, as the error it got tells it to.
    """
    urls = others(node)
    for shard_id in shard_ids:
        with contextlib.suppress(Unavailable):
            send(node, shard_id, method, urls[shard_id] + path, body, purpose=path)
