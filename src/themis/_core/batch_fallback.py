"""Batches against a node without batch routes: one request per key.

A node that answers a batch route with 404 ``Endpoint not found`` or 405 is
remembered, and its chunks go one request per key. Each key gets exactly one
outcome; a request that fails marks only its own key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from themis._core import protocol
from themis._core.batch_plan import BatchKeys, Chunk, Outcomes
from themis._core.effects import FAILURES, Operation, Reply

__all__ = ["BatchRoutes", "delete_each", "each", "get_each", "put_each"]

logger = logging.getLogger(__name__)


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


class Status(Enum):
    """The outcome of one key sent on its own."""

    FOUND = "found"
    DONE = "done"
    MISSING = "missing"
    FAILED = "failed"


OneKey = Callable[[str], Operation[tuple[Status, Any]]]


def each(keys: BatchKeys, chunk: Chunk, one: OneKey) -> Operation[Outcomes]:
    outcomes = Outcomes(checked=True)
    for uuid in chunk.uuids:
        try:
            status, value = yield from one(keys.wire(uuid))
        except FAILURES as exc:
            status, value = Status.FAILED, str(exc)
        if status is Status.FOUND:
            outcomes.found[uuid] = value
        elif status is Status.DONE:
            outcomes.done.add(uuid)
        elif status is Status.MISSING:
            outcomes.missing.add(uuid)
        else:
            outcomes.failed[uuid] = value
    return outcomes


def get_each(key: str) -> Operation[tuple[Status, Any]]:
    doc = yield from protocol.get_entity(key)
    return (Status.MISSING, None) if doc is None else (Status.FOUND, doc)


def put_each(key: str, doc: Mapping[str, Any]) -> Operation[tuple[Status, Any]]:
    text = protocol.encode_document(doc).decode()
    reply: Reply = yield protocol.ROUTED.call(
        "PUT", protocol.entity_path(key), key, body={"blob": text}
    )
    return (Status.DONE, None) if reply.ok else (Status.FAILED, str(reply.status))


def delete_each(key: str) -> Operation[tuple[Status, Any]]:
    deleted = yield from protocol.delete_entity(key)
    return (Status.DONE, None) if deleted else (Status.MISSING, None)
