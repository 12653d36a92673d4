"""One definition of each vector index across a cluster.

Every shard keeps its own copy of a collection's index definition, since each indexes
the vectors it owns. Left alone, each shard would define the index from the first
vector it stores, and a collection could end up with vectors of one dimension on one
shard and of another elsewhere, which no query vector could search. So one shard
decides: the collection's *home*, the owner of its name by the cluster's hashing. A
shard that must define an index it lacks asks the home, which keeps the definition
it has or takes the one proposed, in one step of its writer; every shard adopts the
answer.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import anyio.to_thread

from themis import _routing
from themis.server import peers
from themis.server.errors import BadRequest, Conflict, StorageError, Unavailable
from themis.server.state import NodeState
from themis.server.storage_ops import Compute, Put, ReadView
from themis.server.vector_requests import catalog
from themis.server.vector_spec import IndexSpec

__all__ = ["DEFINE_PATH", "agreed", "define_here", "home_of", "wire_spec"]

#: Where a home shard is asked to define an index (cluster scope).
DEFINE_PATH = "/_internal/vector/define"
_SPEC_FIELDS = {item.name for item in fields(IndexSpec)}


def home_of(node: NodeState, namespace: str, collection: str) -> tuple[str, str]:
    """The ``(shard id, URL)`` of the shard that decides a collection's index."""
    shards = dict(node.peers())
    shard_id = _routing.owner(list(shards), f"vector-index:{namespace}:{collection}")
    return shard_id, shards[shard_id]


async def agreed(node: NodeState, proposed: IndexSpec) -> IndexSpec:
    """The collection's index definition, defining it here as the home decides.

    Returns the definition this node holds afterwards: the one it had, or the home's
    (which is ``proposed`` unless the collection was defined elsewhere first).

    Raises:
        Unavailable: the home shard did not answer.
    """
    existing = catalog(node).get(proposed.namespace, proposed.collection)
    if existing is not None:
        return existing.spec
    shard_id, url = home_of(node, proposed.namespace, proposed.collection)
    decided = proposed
    if shard_id != node.shard_id:
        decided = await anyio.to_thread.run_sync(_ask, node, shard_id, url, proposed)
    return await define_here(node, decided)


async def define_here(node: NodeState, proposed: IndexSpec) -> IndexSpec:
    """Keeps this node's definition of the collection, or stores ``proposed``.

    The check and the write are one step of the writer, so two requests defining
    the same collection at once agree on the first.
    """

    def keep_or_store(view: ReadView) -> list[Put]:
        return (
            [] if view.get("meta", proposed.meta_key) is not None else [proposed.put()]
        )

    await node.storage.write_async([Compute(keep_or_store)])
    # Commit listeners index a stored definition before the write returns.
    index = catalog(node).get(proposed.namespace, proposed.collection)
    if index is None:
        raise StorageError(
            f"the vector index on {proposed.collection!r} was stored but could not "
            "be built; see the node's log"
        )
    return index.spec


def _ask(node: NodeState, shard_id: str, url: str, proposed: IndexSpec) -> IndexSpec:
    response = peers.post(
        node,
        shard_id,
        url + DEFINE_PATH,
        wire_spec(proposed),
        purpose=f"for the definition of the vector index on {proposed.collection!r}",
    )
    answer = peers.answer_of(response)
    if response.status_code == 400:
        raise BadRequest(f"on shard {shard_id!r}: {answer.get('message', '')}")
    if response.status_code == 409:
        raise Conflict(f"on shard {shard_id!r}: {answer.get('message', '')}")
    spec = answer.get("spec")
    if not (
        response.status_code == 200
        and isinstance(spec, dict)
        and set(spec) == _SPEC_FIELDS
    ):
        raise Unavailable(
            f"shard {shard_id!r} did not define the vector index on "
            f"{proposed.collection!r}: {response.status_code} "
            f"{str(answer.get('message', response.text))[:200]}"
        )
    return IndexSpec(**spec)


def wire_spec(spec: IndexSpec) -> dict[str, Any]:
    """A definition as ``POST /vector/index`` takes it."""
    return {
        "namespace": spec.namespace,
        "collection": spec.collection,
        "dimension": spec.dimension,
        "metric": spec.metric,
        "field": spec.field,
        "efSearch": spec.ef_search,
        "M": spec.m,
        "efConstruction": spec.ef_construction,
    }
