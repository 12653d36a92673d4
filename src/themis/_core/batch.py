"""Batch planning: group keys by shard, chunk them, merge per-key outcomes.

Each shard chunk is one ``POST /batch/get|put|delete``. A node without those routes
(404 ``Endpoint not found`` or 405) is remembered, and its chunks fall back to one
request per key. Every key ends up in exactly one outcome list; none is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

from themis import _routing
from themis._core import protocol
from themis._core.effects import (
    FAILURES,
    LOAD_TOPOLOGY,
    Call,
    Operation,
    Outcome,
    Parallel,
    Reply,
)
from themis._core.topology import Topology
from themis.errors import ThemisError
from themis.results import BatchGetResult, BatchWriteResult

__all__ = [
    "BatchLimits",
    "BatchRoutes",
    "Chunk",
    "batch_delete",
    "batch_get",
    "batch_put",
    "plan",
]

logger = logging.getLogger(__name__)

_MISSING_ROUTE = frozenset({404, 405})


class Status(Enum):
    """The outcome of one key."""

    FOUND = "found"
    DONE = "done"
    MISSING = "missing"
    FAILED = "failed"


KeyOutcomes = dict[str, tuple[Status, Any]]


@dataclass(frozen=True)
class BatchLimits:
    """The most keys and body bytes one batch request may carry."""

    max_keys: int = 5000
    max_bytes: int = 4 * 1024 * 1024


class BatchRoutes:
    """Remembers the endpoints that have no batch routes."""

    def __init__(self) -> None:
        self._unsupported: set[str] = set()

    def supported(self, endpoint: str) -> bool:
        """Whether batch requests are worth sending to ``endpoint``."""
        return endpoint not in self._unsupported

    def mark_unsupported(self, endpoint: str) -> None:
        """Records that ``endpoint`` answered a batch route with 404 or 405."""
        logger.info("%s has no batch routes; using one request per key", endpoint)
        self._unsupported.add(endpoint)


@dataclass(frozen=True)
class Chunk:
    """The wire keys of one batch request to one shard."""

    shard_id: str
    keys: tuple[str, ...]


def plan(
    topology: Topology, sizes: Mapping[str, int], limits: BatchLimits
) -> list[Chunk]:
    """Groups wire keys by owning shard and cuts each group into chunks.

    Args:
        topology: The topology to route by.
        sizes: Encoded size in bytes of each wire key's part of the request body.
        limits: The per-request limits.
    """
    groups: dict[str, list[str]] = {}
    for key in sizes:
        owner = _routing.owner(topology.shard_ids, _routing.routing_key(key))
        groups.setdefault(owner, []).append(key)
    chunks: list[Chunk] = []
    for shard_id, keys in groups.items():
        chunks.extend(_cut(shard_id, keys, sizes, limits))
    return chunks


def _cut(
    shard_id: str, keys: list[str], sizes: Mapping[str, int], limits: BatchLimits
) -> list[Chunk]:
    chunks: list[Chunk] = []
    current: list[str] = []
    used = 0
    for key in keys:
        size = sizes[key]
        if current and (
            len(current) >= limits.max_keys or used + size > limits.max_bytes
        ):
            chunks.append(Chunk(shard_id, tuple(current)))
            current, used = [], 0
        current.append(key)
        used += size
    if current:
        chunks.append(Chunk(shard_id, tuple(current)))
    return chunks


def batch_get(
    keys: Mapping[str, str], routes: BatchRoutes, limits: BatchLimits
) -> Operation[BatchGetResult]:
    """Reads many entities; ``keys`` maps each uuid to its wire key."""
    sizes = {key: len(key) + 3 for key in keys.values()}
    outcomes = yield from _run(
        sizes, limits, lambda topology, chunk: _get_chunk(topology, chunk, routes)
    )
    result = BatchGetResult()
    for uuid, key in keys.items():
        status, value = outcomes[key]
        if status is Status.FOUND:
            result.found[uuid] = value
        elif status is Status.MISSING:
            result.missing.append(uuid)
        else:
            result.errors[uuid] = str(value)
    return result


def batch_put(
    blobs: Mapping[str, tuple[str, str]], routes: BatchRoutes, limits: BatchLimits
) -> Operation[BatchWriteResult]:
    """Writes many entities; ``blobs`` maps each uuid to ``(wire key, blob text)``."""
    texts = dict(blobs.values())
    # Documents travel as JSON objects, so their encoded size is the text's size.
    sizes = {key: len(key) + len(text) + 20 for key, text in texts.items()}
    outcomes = yield from _run(
        sizes,
        limits,
        lambda topology, chunk: _put_chunk(topology, chunk, routes, texts),
    )
    return _write_result({uuid: key for uuid, (key, _) in blobs.items()}, outcomes)


def batch_delete(
    keys: Mapping[str, str], routes: BatchRoutes, limits: BatchLimits
) -> Operation[BatchWriteResult]:
    """Deletes many entities; ``keys`` maps each uuid to its wire key."""
    sizes = {key: len(key) + 3 for key in keys.values()}
    outcomes = yield from _run(
        sizes, limits, lambda topology, chunk: _delete_chunk(topology, chunk, routes)
    )
    return _write_result(keys, outcomes)


ChunkOp = Callable[[Topology, Chunk], Operation[KeyOutcomes]]


def _run(
    sizes: Mapping[str, int], limits: BatchLimits, chunk_op: ChunkOp
) -> Operation[KeyOutcomes]:
    topology: Topology = yield LOAD_TOPOLOGY
    chunks = plan(topology, sizes, limits)
    results: list[Outcome] = yield Parallel([chunk_op(topology, c) for c in chunks])
    merged: KeyOutcomes = {}
    for chunk, outcome in zip(chunks, results, strict=True):
        if outcome.error is not None:
            logger.debug("batch chunk to %s failed: %s", chunk.shard_id, outcome.error)
        merged.update(_complete(chunk, outcome))
    return merged


def _complete(chunk: Chunk, outcome: Outcome) -> KeyOutcomes:
    if outcome.error is not None:
        # A bare "connection refused" would not tell which shard the key belongs to.
        reason = f"shard {chunk.shard_id!r} failed: {outcome.error}"
        return {key: (Status.FAILED, reason) for key in chunk.keys}
    found: KeyOutcomes = outcome.value
    absent = f"shard {chunk.shard_id!r} reported no outcome for this key"
    return {key: found.get(key, (Status.FAILED, absent)) for key in chunk.keys}


def _write_result(keys: Mapping[str, str], outcomes: KeyOutcomes) -> BatchWriteResult:
    result = BatchWriteResult()
    for uuid, key in keys.items():
        status, value = outcomes[key]
        if status is Status.DONE:
            result.succeeded.append(uuid)
        elif status is Status.MISSING:
            result.missing.append(uuid)
        else:
            result.failed[uuid] = str(value)
    return result


def _batch_call(path: str, chunk: Chunk, body: dict[str, Any]) -> Call:
    return Call("POST", path, body=body, shard_id=chunk.shard_id, accept=_MISSING_ROUTE)


def _try_batch(
    topology: Topology,
    chunk: Chunk,
    routes: BatchRoutes,
    path: str,
    body: dict[str, Any],
) -> Operation[Reply | None]:
    """Sends the batch request; ``None`` means the node lacks the route.

    Raises:
        ThemisError: The node answered 404 for another reason.
    """
    endpoint = topology.shard(chunk.shard_id).endpoint
    if not routes.supported(endpoint):
        return None
    reply: Reply = yield _batch_call(path, chunk, body)
    if reply.ok:
        return reply
    payload = _safe_payload(reply)
    if reply.status == 405 or payload.get("message") == "Endpoint not found":
        routes.mark_unsupported(endpoint)
        return None
    raise ThemisError(f"{reply.status} from {reply.url}: {payload.get('message', '')}")


def _safe_payload(reply: Reply) -> dict[str, Any]:
    try:
        return reply.object()
    except FAILURES:
        return {}


def _get_chunk(
    topology: Topology, chunk: Chunk, routes: BatchRoutes
) -> Operation[KeyOutcomes]:
    body = {"keys": list(chunk.keys), "documents": True}
    reply = yield from _try_batch(topology, chunk, routes, "/batch/get", body)
    if reply is None:
        return (yield from _each(chunk.keys, _get_one))
    payload = reply.object()
    outcomes: KeyOutcomes = {}
    for key, message in _failures(payload, "errors").items():
        outcomes[key] = (Status.FAILED, message)
    for key in payload.get("missing", []):
        outcomes[key] = (Status.MISSING, None)
    for key, blob in (payload.get("found") or {}).items():
        try:
            outcomes[key] = (Status.FOUND, protocol.decode_blob(blob, key))
        except FAILURES as exc:
            outcomes[key] = (Status.FAILED, str(exc))
    return outcomes


def _put_chunk(
    topology: Topology, chunk: Chunk, routes: BatchRoutes, texts: Mapping[str, str]
) -> Operation[KeyOutcomes]:
    # A fragment is spliced into the body as a JSON object, not escaped as a string.
    items = [{"key": key, "doc": orjson.Fragment(texts[key])} for key in chunk.keys]
    body = {"items": items}
    reply = yield from _try_batch(topology, chunk, routes, "/batch/put", body)
    if reply is None:
        return (yield from _each(chunk.keys, lambda key: _put_one(key, texts[key])))
    return _write_outcomes(reply.object())


def _delete_chunk(
    topology: Topology, chunk: Chunk, routes: BatchRoutes
) -> Operation[KeyOutcomes]:
    body = {"keys": list(chunk.keys)}
    reply = yield from _try_batch(topology, chunk, routes, "/batch/delete", body)
    if reply is None:
        return (yield from _each(chunk.keys, _delete_one))
    return _write_outcomes(reply.object())


def _write_outcomes(payload: dict[str, Any]) -> KeyOutcomes:
    outcomes: KeyOutcomes = {}
    for key, message in _failures(payload, "failed").items():
        outcomes[key] = (Status.FAILED, message)
    for key in payload.get("missing", []):
        outcomes[key] = (Status.MISSING, None)
    for key in payload.get("succeeded", []):
        outcomes[key] = (Status.DONE, None)
    return outcomes


def _failures(payload: dict[str, Any], field: str) -> dict[str, str]:
    failures = payload.get(field) or {}
    return {key: str(message) for key, message in failures.items()}


def _each(
    keys: Sequence[str], one: Callable[[str], Operation[tuple[Status, Any]]]
) -> Operation[KeyOutcomes]:
    outcomes: KeyOutcomes = {}
    for key in keys:
        try:
            outcomes[key] = yield from one(key)
        except FAILURES as exc:
            outcomes[key] = (Status.FAILED, str(exc))
    return outcomes


def _get_one(key: str) -> Operation[tuple[Status, Any]]:
    doc = yield from protocol.get_entity(key)
    return (Status.MISSING, None) if doc is None else (Status.FOUND, doc)


def _put_one(key: str, text: str) -> Operation[tuple[Status, Any]]:
    reply: Reply = yield protocol.ROUTED.call(
        "PUT", protocol.entity_path(key), key, body={"blob": text}
    )
    return (Status.DONE, None) if reply.ok else (Status.FAILED, str(reply.status))


def _delete_one(key: str) -> Operation[tuple[Status, Any]]:
    deleted = yield from protocol.delete_entity(key)
    return (Status.DONE, None) if deleted else (Status.MISSING, None)
