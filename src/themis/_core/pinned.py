"""Running any operation inside a transaction: every request to the transaction's node.

A transaction lives on one node, which reaches the other shards itself. Wrapping an
operation with :func:`pinned` sends each of its requests there with the
transaction's headers, and shows it a topology of that one node, so batches,
graph searches and vector searches keep their own code and gain the transaction.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from themis._core.effects import (
    FAILURES,
    LOAD_TOPOLOGY,
    Call,
    Effect,
    Operation,
    Parallel,
)
from themis._core.protocol import Scope
from themis._core.topology import Shard, Topology

__all__ = ["TRANSACTION_SHARD", "pinned"]

T = TypeVar("T")

TRANSACTION_SHARD = "transaction"
"""The id of the one shard a pinned operation sees: the transaction's node."""


def pinned(op: Operation[T], scope: Scope) -> Operation[T]:
    """Runs ``op`` with every request sent to ``scope``'s node, with its headers.

    Values and failures the driver sends back reach ``op`` unchanged, and its
    result is returned.
    """
    assert scope.endpoint is not None
    topology = Topology(version=0, shards=(Shard(TRANSACTION_SHARD, scope.endpoint),))
    value: object = None
    error: Exception | None = None
    while True:
        try:
            effect = op.throw(error) if error is not None else op.send(value)
        except StopIteration as stop:
            result: T = stop.value
            return result
        if effect is LOAD_TOPOLOGY:
            value, error = topology, None
            continue
        try:
            value, error = (yield _pin(effect, scope)), None
        except FAILURES as exc:
            value, error = None, exc


def _pin(effect: Effect, scope: Scope) -> Effect:
    if isinstance(effect, Parallel):
        return Parallel([pinned(op, scope) for op in effect.ops])
    assert isinstance(effect, Call)
    return dataclasses.replace(
        effect,
        endpoint=scope.endpoint,
        shard_id=None,
        route_key=None,
        headers={**effect.headers, **scope.headers},
    )
