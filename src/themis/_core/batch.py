"""Batch operations: one request per shard chunk, per-key outcomes merged.

Each chunk (see :mod:`batch_plan`) is one ``POST /batch/get|put|delete``; a node
without those routes is served one request per key (:mod:`batch_fallback`). Every
key ends up in exactly one outcome; none is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from themis._core import batch_fallback, protocol
from themis._core.batch_fallback import BatchRoutes
from themis._core.batch_plan import (
    BatchKeys,
    BatchLimits,
    BodySize,
    Chunk,
    Outcomes,
    plan,
)
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

__all__ = ["batch_delete", "batch_get", "batch_put"]

logger = logging.getLogger(__name__)

_MISSING_ROUTE = frozenset({404, 405})


def batch_get(
    keys: BatchKeys, routes: BatchRoutes, limits: BatchLimits
) -> Operation[BatchGetResult]:
    """Reads many entities."""
    # Seeding the documents with every uuid keeps them in request order as the
    # shards' answers fill them in; the uuids without one are taken out after.
    outcomes = Outcomes(found=keys.seed())
    yield from _run(
        keys,
        BodySize(len(keys.table) + 4),
        limits,
        lambda topology, chunk: _get_chunk(
            topology, keys, chunk, routes, outcomes.found
        ),
        outcomes,
    )
    found, missing, failed = outcomes.found, outcomes.missing, outcomes.failed
    if not missing and not failed:
        return BatchGetResult(found=found)
    for uuid in (*missing, *failed):
        found.pop(uuid, None)
    return BatchGetResult(
        found=found,
        missing=[uuid for uuid in keys.uuids if uuid in missing],
        errors={uuid: failed[uuid] for uuid in keys.uuids if uuid in failed},
    )


def batch_put(
    keys: BatchKeys,
    docs: Mapping[str, Mapping[str, Any]],
    routes: BatchRoutes,
    limits: BatchLimits,
) -> Operation[BatchWriteResult]:
    """Writes many entities; ``docs`` maps each uuid to its document."""
    # Chunks are planned by count; each body is then encoded whole and measured,
    # which costs far less than encoding every document on its own to size it.
    outcomes = yield from _run(
        keys,
        BodySize(len(keys.table) + 20),
        limits,
        lambda topology, chunk: _put_chunk(topology, keys, chunk, routes, docs, limits),
        Outcomes(),
    )
    return _write_result(keys, outcomes)


def batch_delete(
    keys: BatchKeys, routes: BatchRoutes, limits: BatchLimits
) -> Operation[BatchWriteResult]:
    """Deletes many entities."""
    outcomes = yield from _run(
        keys,
        BodySize(len(keys.table) + 4),
        limits,
        lambda topology, chunk: _delete_chunk(topology, keys, chunk, routes),
        Outcomes(),
    )
    return _write_result(keys, outcomes)


ChunkOp = Callable[[Topology, Chunk], Operation[Outcomes]]


def _run(
    keys: BatchKeys,
    size: BodySize,
    limits: BatchLimits,
    chunk_op: ChunkOp,
    merged: Outcomes,
) -> Operation[Outcomes]:
    """Runs every chunk and merges their outcomes into ``merged``."""
    topology: Topology = yield LOAD_TOPOLOGY
    chunks = plan(topology, keys, size, limits)
    results: list[Outcome] = yield Parallel([chunk_op(topology, c) for c in chunks])
    for chunk, outcome in zip(chunks, results, strict=True):
        if outcome.error is None:
            merged.merge(_complete(chunk, outcome.value))
            continue
        logger.debug("batch chunk to %s failed: %s", chunk.shard_id, outcome.error)
        # A bare "connection refused" would not tell which shard the key belongs to.
        merged.fail(chunk.uuids, f"shard {chunk.shard_id!r} failed: {outcome.error}")
    return merged


def _complete(chunk: Chunk, outcomes: Outcomes) -> Outcomes:
    if outcomes.checked:
        return outcomes
    # A uuid the shard left out of its answer is a failure, never silently dropped.
    absent = set(chunk.uuids).difference(
        outcomes.found, outcomes.done, outcomes.missing, outcomes.failed
    )
    outcomes.fail(absent, f"shard {chunk.shard_id!r} reported no outcome for this key")
    return outcomes


def _write_result(keys: BatchKeys, outcomes: Outcomes) -> BatchWriteResult:
    result = BatchWriteResult()
    for uuid in keys.uuids:
        if uuid in outcomes.done:
            result.succeeded.append(uuid)
        elif uuid in outcomes.missing:
            result.missing.append(uuid)
        else:
            result.failed[uuid] = outcomes.failed[uuid]
    return result


def _batch_call(path: str, chunk: Chunk, body: Any) -> Call:
    return Call(
        "POST",
        path,
        body=body,
        shard_id=chunk.shard_id,
        headers={protocol.SHARD_HEADER: chunk.shard_id},
        accept=_MISSING_ROUTE,
    )


def _try_batch(
    topology: Topology,
    chunk: Chunk,
    routes: BatchRoutes,
    path: str,
    body: Any,
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
    topology: Topology,
    keys: BatchKeys,
    chunk: Chunk,
    routes: BatchRoutes,
    found: dict[str, Any],
) -> Operation[Outcomes]:
    # The keys travel as one table and its pks. With "documents" the node splices
    # each stored text in as a JSON value, so the reply's values are the documents
    # themselves; "positional" lists them in request order, so no key is sent back.
    body = {
        "table": keys.table,
        "pks": chunk.uuids,
        "documents": True,
        "positional": True,
    }
    reply = yield from _try_batch(topology, chunk, routes, "/batch/get", body)
    if reply is None:
        return (yield from batch_fallback.each(keys, chunk, batch_fallback.get_each))
    payload = reply.object()
    if isinstance(payload.get("documents"), list):
        return _positional_outcomes(payload, chunk, found)
    uuid_of = keys.uuid_of()
    outcomes = _failed_outcomes(payload, "errors", uuid_of)
    outcomes.missing.update(map(uuid_of, _list(payload, "missing")))
    found = payload.get("found") or {}
    outcomes.found = {uuid_of(key): doc for key, doc in found.items()}
    return outcomes


def _positional_outcomes(
    payload: dict[str, Any], chunk: Chunk, found: dict[str, Any]
) -> Outcomes:
    """Reads ``{"documents": [doc | null], "missing": [i], "errors": [...]}``.

    When every key was found, the documents go straight into ``found``, the
    batch's result: chunks that answer early are merged while later ones are
    still on their way. The dict already holds every uuid, so no insertion
    resizes it and chunks of other threads may fill it at the same time.

    Raises:
        ThemisError: The answer does not have one entry per requested key.
    """
    documents: list[Any] = payload["documents"]
    uuids = chunk.uuids
    if len(documents) != len(uuids):
        raise ThemisError(
            f"expected {len(uuids)} documents from shard {chunk.shard_id!r}, "
            f"received {len(documents)}"
        )
    if not (payload.get("missing") or payload.get("errors") or None in documents):
        # The usual answer: every key found.
        found.update(zip(uuids, documents, strict=True))
        return Outcomes(checked=True)
    outcomes = Outcomes(found=dict(zip(uuids, documents, strict=True)), checked=True)
    try:
        for position in payload.get("missing") or ():
            outcomes.missing.add(uuids[position])
        for error in payload.get("errors") or ():
            outcomes.failed[uuids[error["position"]]] = str(error["message"])
    except (IndexError, KeyError, TypeError) as exc:
        raise ThemisError(
            f"expected positions of the request in the answer of shard "
            f"{chunk.shard_id!r}, received {exc!r}"
        ) from None
    if outcomes.missing or outcomes.failed or None in outcomes.found.values():
        _settle(outcomes, chunk)
    return outcomes


def _settle(outcomes: Outcomes, chunk: Chunk) -> None:
    # Entries without a document are missing or failed; one the shard named neither
    # way is a failure rather than a silent gap.
    for uuid in chunk.uuids:
        if outcomes.found.get(uuid, False) is not None:
            continue
        del outcomes.found[uuid]
        if uuid not in outcomes.missing and uuid not in outcomes.failed:
            outcomes.failed[uuid] = (
                f"shard {chunk.shard_id!r} reported no outcome for this key"
            )


def _put_chunk(
    topology: Topology,
    keys: BatchKeys,
    chunk: Chunk,
    routes: BatchRoutes,
    docs: Mapping[str, Mapping[str, Any]],
    limits: BatchLimits,
) -> Operation[Outcomes]:
    body = _put_body(keys, chunk.uuids, docs)
    if len(body) > limits.max_bytes and len(chunk.uuids) > 1:
        pieces = len(body) // limits.max_bytes + 1
        return (
            yield from _put_parts(topology, keys, chunk, routes, docs, limits, pieces)
        )
    reply = yield from _try_batch(
        topology, chunk, routes, "/batch/put", orjson.Fragment(body)
    )
    if reply is None:
        uuid_of = keys.uuid_of()
        return (
            yield from batch_fallback.each(
                keys,
                chunk,
                lambda key: batch_fallback.put_each(key, docs[uuid_of(key)]),
            )
        )
    return _write_outcomes(reply.object(), keys)


def _put_parts(
    topology: Topology,
    keys: BatchKeys,
    chunk: Chunk,
    routes: BatchRoutes,
    docs: Mapping[str, Mapping[str, Any]],
    limits: BatchLimits,
    pieces: int,
) -> Operation[Outcomes]:
    """Sends a chunk whose body is over the byte limit as ``pieces`` smaller ones."""
    uuids = chunk.uuids
    size = -(-len(uuids) // pieces)
    outcomes = Outcomes()
    for start in range(0, len(uuids), size):
        part = Chunk(chunk.shard_id, uuids[start : start + size])
        outcomes.merge(
            (yield from _put_chunk(topology, keys, part, routes, docs, limits))
        )
    return outcomes


def _put_body(
    keys: BatchKeys, uuids: Sequence[str], docs: Mapping[str, Mapping[str, Any]]
) -> bytes:
    wire_keys = keys.wire_keys(uuids)
    values: list[Any] = [docs[uuid] for uuid in uuids]
    try:
        return _items_body(wire_keys, values)
    except TypeError:
        # Integers beyond 64 bits, or values orjson cannot write: each document
        # then goes through the exact encoder and is spliced in as a fragment.
        texts = [orjson.Fragment(protocol.encode_document(doc)) for doc in values]
        return _items_body(wire_keys, texts)


def _items_body(wire_keys: list[str], values: list[Any]) -> bytes:
    items = [
        {"key": key, "doc": value} for key, value in zip(wire_keys, values, strict=True)
    ]
    return orjson.dumps({"items": items})


def _delete_chunk(
    topology: Topology, keys: BatchKeys, chunk: Chunk, routes: BatchRoutes
) -> Operation[Outcomes]:
    body = {"table": keys.table, "pks": chunk.uuids}
    reply = yield from _try_batch(topology, chunk, routes, "/batch/delete", body)
    if reply is None:
        return (yield from batch_fallback.each(keys, chunk, batch_fallback.delete_each))
    return _write_outcomes(reply.object(), keys)


def _write_outcomes(payload: dict[str, Any], keys: BatchKeys) -> Outcomes:
    uuid_of = keys.uuid_of()
    outcomes = _failed_outcomes(payload, "failed", uuid_of)
    outcomes.missing.update(map(uuid_of, _list(payload, "missing")))
    outcomes.done.update(map(uuid_of, _list(payload, "succeeded")))
    return outcomes


def _failed_outcomes(
    payload: dict[str, Any], name: str, uuid_of: Callable[[str], str]
) -> Outcomes:
    failures = payload.get(name) or {}
    return Outcomes(failed={uuid_of(k): str(v) for k, v in failures.items()})


def _list(payload: dict[str, Any], name: str) -> list[str]:
    value = payload.get(name) or []
    return [item for item in value if isinstance(item, str)]
