"""What a graph search reads: the edges at vertices, and documents by ``_id``.

On one shard both come from the node's own snapshot. On a cluster an edge lives on
the shard owning its key, usually not the one owning its vertices, so each shard
holds part of every vertex's adjacency: `ClusterReach` asks every shard for the
edges at a whole frontier at once (``/graph/neighbors``) and merges them by edge
``_id``, and reads each document from the shard that owns it. Inside a transaction
the other shards answer through the transaction's parts, seeing its writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from themis.server import peers, shard_parts
from themis.server.documents import decode_document
from themis.server.errors import ServerError
from themis.server.graph import Adjacent, EdgeFilter, adjacent, read_document
from themis.server.keys import DocKey, parse_key
from themis.server.state import NodeState
from themis.server.storage_ops import ReadView
from themis.server.transactions import Transaction

__all__ = ["MAX_NEIGHBOR_VERTICES", "ClusterReach", "GraphReach", "LocalReach"]

#: The most vertices one ``/graph/neighbors`` request may name.
MAX_NEIGHBOR_VERTICES = 10_000
_PART = "its part of a graph search"
# Documents read from the shards per round, well below a batch's 10,000 keys.
_DOCUMENTS_PER_REQUEST = 5000


class GraphReach(Protocol):
    """Where a graph search reads edges and documents."""

    #: How many queued vertices a search may read along with the one it needs: 0
    #: where reads are local and cheap, more where each read is a round trip.
    read_ahead: int

    def around(self, vertices: Sequence[str], only: EdgeFilter) -> list[list[Adjacent]]:
        """The admitted edges at each vertex, in edge ``_id`` order."""
        ...

    def documents(self, ids: Sequence[str]) -> list[dict[str, Any] | None]:
        """The documents with these ``_id``s; ``None`` where there is none."""
        ...


class LocalReach:
    """Edges and documents of this node's own shard, as ``view`` sees them."""

    read_ahead = 0

    def __init__(self, view: ReadView) -> None:
        self.view = view

    def around(self, vertices: Sequence[str], only: EdgeFilter) -> list[list[Adjacent]]:
        return [
            [
                item
                for item in adjacent(self.view, vertex, only.direction)
                if only.admits(item)
            ]
            for vertex in vertices
        ]

    def documents(self, ids: Sequence[str]) -> list[dict[str, Any] | None]:
        return [read_document(self.view, doc_id) for doc_id in ids]


class ClusterReach:
    """Edges and documents of every shard of the cluster.

    Args:
        node: This node, which reads its own shard through ``view``.
        view: This node's snapshot, or the transaction's view of it.
        txn: The request's transaction, whose parts the other shards answer in.
    """

    read_ahead = 1000

    def __init__(
        self, node: NodeState, view: ReadView, txn: Transaction | None
    ) -> None:
        self._node = node
        self._local = LocalReach(view)
        self._txn = txn
        self._peers = peers.others(node)

    def around(self, vertices: Sequence[str], only: EdgeFilter) -> list[list[Adjacent]]:
        found = self._local.around(vertices, only)
        for start in range(0, len(vertices), MAX_NEIGHBOR_VERTICES):
            part = list(vertices[start : start + MAX_NEIGHBOR_VERTICES])
            body = {"vertices": part, **only.wire()}
            for answer in self._ask("/graph/neighbors", body):
                neighbours = answer.get("neighbors") or {}
                for offset, vertex in enumerate(part):
                    items = neighbours.get(vertex) or ()
                    found[start + offset] += [
                        Adjacent.from_wire(item) for item in items
                    ]
        for items in found:
            # Stable: a self-loop seen from both ends keeps out before in.
            items.sort(key=lambda item: item.edge)
        return found

    def documents(self, ids: Sequence[str]) -> list[dict[str, Any] | None]:
        found: list[dict[str, Any] | None] = []
        for start in range(0, len(ids), _DOCUMENTS_PER_REQUEST):
            found += self._documents(ids[start : start + _DOCUMENTS_PER_REQUEST])
        return found

    def _documents(self, ids: Sequence[str]) -> list[dict[str, Any] | None]:
        keys: list[DocKey | None] = [_key_of(doc_id) for doc_id in ids]
        invalid = {position for position, key in enumerate(keys) if key is None}
        wires = [key.wire if key is not None else "" for key in keys]
        owners = shard_parts.foreign_owners(self._node, wires, dict.fromkeys(invalid))
        found: list[dict[str, Any] | None] = [None] * len(ids)
        here = [p for p in range(len(ids)) if p not in owners and p not in invalid]
        docs = self._local.documents([ids[p] for p in here])
        for position, doc in zip(here, docs, strict=True):
            found[position] = doc
        if not owners:
            return found
        if self._txn is not None:
            texts = shard_parts.read(self._node, self._txn, wires, owners)
        else:
            texts = self._read(wires, owners)
        for position, text in texts.items():
            key = keys[position]
            assert key is not None
            found[position] = None if text is None else decode_document(key, text)
        return found

    def _read(
        self, wires: Sequence[str], owners: dict[int, str]
    ) -> dict[int, bytes | None]:
        """The stored texts of the keys at ``owners``' positions, from their shards."""
        by_shard: dict[str, list[int]] = {}
        for position, owner in owners.items():
            by_shard.setdefault(owner, []).append(position)

        def read_shard(shard_id: str, positions: list[int]) -> list[bytes | None]:
            keys = [wires[p] for p in positions]
            url = self._peers[shard_id]
            return peers.stored_texts(self._node, shard_id, url, keys, purpose=_PART)

        found: dict[int, bytes | None] = {}
        answers = shard_parts.each_part(self._node, by_shard, read_shard)
        for positions, texts in zip(by_shard.values(), answers, strict=True):
            found.update(zip(positions, texts, strict=True))
        return found

    def _ask(self, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Posts ``body`` to ``path`` on every other shard."""
        if self._txn is not None:
            return shard_parts.ask_parts(self._node, self._txn, path, body)
        answers = peers.each_other(
            self._node,
            lambda shard_id, url: peers.ask(
                self._node, shard_id, url + path, body, purpose=_PART
            ),
        )
        return list(answers.values())


def _key_of(doc_id: str) -> DocKey | None:
    try:
        return parse_key(doc_id)
    except ServerError:
        return None
