"""Request bodies and response parsing for the single-shard routes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import quote

from themis import _json, _routing
from themis._core.effects import Call, Operation, Reply
from themis.errors import ThemisError

__all__ = [
    "ISOLATION_LEVELS",
    "SHARD_HEADER",
    "TOPOLOGY_VERSION_HEADER",
    "TRANSACTION_HEADER",
    "Scope",
    "TransactionState",
    "add_edge",
    "begin_transaction",
    "decode_blob",
    "delete_edge",
    "delete_entity",
    "encode_blob",
    "encode_document",
    "end_transaction",
    "entity_path",
    "get_entity",
    "health",
    "put_entity",
    "shortest_path",
    "traverse",
]

ISOLATION_LEVELS = ("snapshot", "read_committed")
TRANSACTION_HEADER = "X-Transaction-Id"
#: Names the shard a client routed a batch's keys to, by the topology. A node that
#: is that shard serves them without routing each key again; any other request's
#: keys of other shards are served by their owners.
SHARD_HEADER = "X-Themis-Shard"
#: The topology version a client routed a request by; nodes send theirs back, and
#: a client that sees a newer one reads the topology again.
TOPOLOGY_VERSION_HEADER = "X-Themis-Topology-Version"
_NOT_FOUND = frozenset({404})


@dataclass(frozen=True)
class Scope:
    """Where keyed calls go: by owner (the default), or pinned to one endpoint.

    Attributes:
        endpoint: The endpoint every call goes to (a transaction's node), if any.
        headers: Headers added to every call (``X-Transaction-Id``).
        transaction_id: The transaction the scope belongs to, if any.
    """

    endpoint: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    transaction_id: int | None = None

    def call(self, method: str, path: str, key: str, **kwargs: Any) -> Call:
        """Builds a call routed by ``key`` unless the scope pins an endpoint."""
        if self.endpoint is not None:
            return Call(
                method, path, endpoint=self.endpoint, headers=self.headers, **kwargs
            )
        route = _routing.routing_key(key)
        return Call(method, path, route_key=route, headers=self.headers, **kwargs)


ROUTED = Scope()


class TransactionState(Enum):
    """Where a transaction is in its life."""

    ACTIVE = "active"
    COMMITTED = "committed"
    ROLLED_BACK = "rolled_back"


def entity_path(key: str) -> str:
    """Returns the ``/entities/{key}`` path with the key percent-encoded."""
    return "/entities/" + quote(key, safe=":")


def encode_blob(doc: Mapping[str, Any]) -> str:
    """Encodes a document as the JSON text the ``blob`` field carries."""
    return encode_document(doc).decode()


def encode_document(doc: Mapping[str, Any]) -> bytes:
    """Encodes a document as UTF-8 JSON.

    Raises:
        TypeError: ``doc`` is not a mapping.
    """
    if not isinstance(doc, Mapping):
        raise TypeError(f"a document must be a mapping, got {type(doc).__name__}")
    return _json.dumps(doc)


def check_documents(docs: Iterable[Any]) -> None:
    """Checks that every document is a mapping before any is sent.

    Raises:
        TypeError: A document is not a mapping.
    """
    # A batch usually holds one or two types of document; each is checked once.
    for kind in set(map(type, docs)):
        if not issubclass(kind, Mapping):
            raise TypeError(f"a document must be a mapping, got {kind.__name__}")


def decode_blob(blob: Any, where: str) -> Any:
    """Decodes a stored ``blob`` back into the document.

    Raises:
        ThemisError: The blob is not JSON text.
    """
    if not isinstance(blob, str | bytes):
        return blob
    try:
        return _json.loads(blob)
    except ValueError:
        raise ThemisError(
            f"expected the blob of {where} to be JSON text, got {blob[:200]!r}"
        ) from None


def health(endpoint: str) -> Operation[dict[str, Any]]:
    """``GET /health`` on one endpoint."""
    reply: Reply = yield Call("GET", "/health", endpoint=endpoint)
    return reply.object()


def get_entity(key: str, scope: Scope = ROUTED) -> Operation[Any]:
    """``GET /entities/{key}``; returns the document, or ``None`` when missing."""
    reply: Reply = yield scope.call("GET", entity_path(key), key, accept=_NOT_FOUND)
    if reply.status == 404:
        return None
    return decode_blob(reply.object().get("blob"), key)


def put_entity(
    key: str, doc: Mapping[str, Any], scope: Scope = ROUTED
) -> Operation[bool]:
    """``PUT /entities/{key}`` with ``{"blob": json-text}``."""
    body = {"blob": encode_blob(doc)}
    reply: Reply = yield scope.call("PUT", entity_path(key), key, body=body)
    return reply.ok


def delete_entity(key: str, scope: Scope = ROUTED) -> Operation[bool]:
    """``DELETE /entities/{key}``; returns ``False`` when the entity was missing."""
    reply: Reply = yield scope.call("DELETE", entity_path(key), key, accept=_NOT_FOUND)
    return reply.status != 404


def traverse(
    start: str,
    max_depth: int,
    min_depth: int,
    direction: str,
    edge_type: str | None,
) -> Operation[list[str]]:
    """``POST /graph/traverse`` on the shard owning the start vertex.

    Only right on a one-shard topology: a shard sees only the edges it stores.
    """
    body: dict[str, Any] = {
        "start_vertex": start,
        "max_depth": max_depth,
        "min_depth": min_depth,
        "direction": direction,
    }
    if edge_type is not None:
        body["edge_type"] = edge_type
    reply: Reply = yield ROUTED.call("POST", "/graph/traverse", start, body=body)
    visited = reply.object().get("visited", [])
    return [str(vertex) for vertex in visited]


def add_edge(body: dict[str, Any], key: str) -> Operation[str]:
    """``POST /graph/edge`` on the shard owning the edge's wire ``key``."""
    reply: Reply = yield ROUTED.call("POST", "/graph/edge", key, body=body)
    payload = reply.object()
    edge_id = payload.get("id", payload.get("_id"))
    if edge_id is None:
        raise ThemisError(
            f"expected an 'id' in the answer of {reply.url}, got {payload!r:.200}"
        )
    return str(edge_id)


def delete_edge(edge_id: str, shard_ids: list[str]) -> Operation[bool]:
    """``DELETE /graph/edge/{id}`` on every shard, since an id names no owner."""
    path = "/graph/edge/" + quote(edge_id, safe=":")
    deleted = False
    for shard_id in shard_ids:
        reply: Reply = yield Call("DELETE", path, shard_id=shard_id, accept=_NOT_FOUND)
        deleted = deleted or reply.ok
    return deleted


def shortest_path(body: dict[str, Any]) -> Operation[dict[str, Any]]:
    """``POST /graph/shortest_path`` on the shard owning the start vertex.

    Only right on a one-shard topology: a shard sees only the edges it stores.
    """
    reply: Reply = yield ROUTED.call(
        "POST", "/graph/shortest_path", body["start"], body=body
    )
    return reply.object()


def begin_transaction(endpoint: str, isolation: str) -> Operation[int]:
    """``POST /transaction/begin``; returns the numeric transaction id."""
    if isolation not in ISOLATION_LEVELS:
        raise ValueError(
            f"isolation must be one of {ISOLATION_LEVELS}, got {isolation!r}"
        )
    body = {"isolation": isolation}
    reply: Reply = yield Call(
        "POST", "/transaction/begin", body=body, endpoint=endpoint
    )
    payload = reply.object()
    tx_id = payload.get("transaction_id")
    if not isinstance(tx_id, int) or isinstance(tx_id, bool):
        raise ThemisError(
            f"expected an integer 'transaction_id' from {reply.url}, got {tx_id!r}"
        )
    return tx_id


def end_transaction(
    endpoint: str, tx_id: int, action: str
) -> Operation[dict[str, Any]]:
    """``POST /transaction/commit`` or ``/transaction/rollback``; never retried."""
    body = {"transaction_id": tx_id}
    path = f"/transaction/{action}"
    reply: Reply = yield Call("POST", path, body=body, endpoint=endpoint, retry=False)
    return reply.object()
