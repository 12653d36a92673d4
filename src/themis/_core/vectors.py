"""Vector inserts, split by the shard owning each item's ``pk``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from themis import _routing
from themis._core.effects import (
    LOAD_TOPOLOGY,
    Call,
    Operation,
    Outcome,
    Parallel,
    Reply,
)
from themis._core.topology import Topology

__all__ = ["vector_insert"]


def vector_insert(
    items: Iterable[Mapping[str, Any]], collection: str | None, vector_field: str
) -> Operation[dict[str, Any]]:
    """``POST /vector/batch_insert`` once per owning shard.

    Returns:
        ``{"inserted", "errors", "error_count"}`` summed over shards (a node may
        report its errors as a list or as a count).

    Raises:
        ValueError: An item has no string ``pk`` or no ``vector``.
    """
    rows = [_row(item, index) for index, item in enumerate(items)]
    topology: Topology = yield LOAD_TOPOLOGY
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        owner = _routing.owner(topology.shard_ids, _routing.routing_key(row["pk"]))
        groups.setdefault(owner, []).append(row)
    ops = [
        _insert(shard_id, group, collection, vector_field)
        for shard_id, group in groups.items()
    ]
    outcomes: list[Outcome] = yield Parallel(ops)
    return _summary([outcome.unwrap() for outcome in outcomes])


def _row(item: Mapping[str, Any], index: int) -> dict[str, Any]:
    pk = item.get("pk")
    vector = item.get("vector")
    if not isinstance(pk, str) or not pk or not isinstance(vector, list | tuple):
        raise ValueError(
            f"expected item {index} to have a string 'pk' and a list 'vector', "
            f"got {dict(item)!r:.200}"
        )
    return {
        "pk": pk,
        "vector": [float(x) for x in vector],
        "fields": dict(item.get("fields") or {}),
    }


def _insert(
    shard_id: str, rows: list[dict[str, Any]], collection: str | None, vector_field: str
) -> Operation[dict[str, Any]]:
    body: dict[str, Any] = {"vector_field": vector_field, "items": rows}
    if collection is not None:
        body["collection"] = collection
    reply: Reply = yield Call(
        "POST", "/vector/batch_insert", body=body, shard_id=shard_id
    )
    return reply.object()


def _summary(answers: list[dict[str, Any]]) -> dict[str, Any]:
    inserted = 0
    errors: list[Any] = []
    error_count = 0
    for answer in answers:
        inserted += int(answer.get("inserted", 0))
        reported = answer.get("errors", [])
        if isinstance(reported, list):
            errors.extend(reported)
            error_count += len(reported)
        elif isinstance(reported, int):
            error_count += reported
    return {"inserted": inserted, "errors": errors, "error_count": error_count}
