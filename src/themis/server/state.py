"""What one node holds while it runs, reachable from every request."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import Request

from themis.aql import Budget
from themis.server.auth import TokenStore
from themis.server.cursors import CursorRegistry
from themis.server.documents import DocumentStore
from themis.server.http import PEER_HEADER, Traffic
from themis.server.indexes import IndexCatalog
from themis.server.query_source import EdgeReader, GraphReader, SnapshotSource
from themis.server.storage import Storage
from themis.server.storage_ops import ReadView
from themis.server.transaction_manager import TransactionManager


@dataclass
class NodeState:
    """The storage, identity and topology of a running node."""

    storage: Storage
    documents: DocumentStore
    catalog: IndexCatalog
    cursors: CursorRegistry
    transactions: TransactionManager
    shard_id: str
    advertised_url: str
    topology: dict[str, Any] | None = None
    #: The target topology while a rebalance moves documents (see maintenance.py).
    rebalance: dict[str, Any] | None = None
    query_budget: Budget = field(default_factory=Budget)
    edge_reader: EdgeReader | None = None
    graph_reader: GraphReader | None = None
    started: float = field(default_factory=time.monotonic)
    extensions: dict[str, Any] = field(default_factory=dict)
    traffic: Traffic = field(default_factory=Traffic)
    _peer_http: httpx.Client | None = None
    tokens: TokenStore | None = None
    _peer_pool: ThreadPoolExecutor | None = None

    @property
    def peer_pool(self) -> ThreadPoolExecutor:
        """Threads that call other shards in parallel for a coordinated query."""
        if self._peer_pool is None:
            self._peer_pool = ThreadPoolExecutor(32, thread_name_prefix="themis-peer")
        return self._peer_pool

    @property
    def peer_http(self) -> httpx.Client:
        """The pooled client this node calls other shards with."""
        if self._peer_http is None:
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
            # The header lets the shards count cluster-internal traffic apart.
            headers = {PEER_HEADER: self.shard_id}
            secret = self.tokens.peer_secret() if self.tokens is not None else None
            if secret is not None:
                headers["Authorization"] = f"Bearer {secret}"
            self._peer_http = httpx.Client(timeout=30.0, limits=limits, headers=headers)
        return self._peer_http

    def uptime_seconds(self) -> int:
        """Whole seconds since the node started."""
        return int(time.monotonic() - self.started)

    def query_source(
        self, view: ReadView, namespace: str, *, use_indexes: bool = True
    ) -> SnapshotSource:
        """The AQL data source of a namespace, read through ``view``.

        Args:
            view: What the query reads.
            namespace: Where collection names resolve.
            use_indexes: False when ``view`` holds writes the indexes do not cover
                (a transaction's own writes).
        """
        return SnapshotSource(
            view,
            namespace,
            self.catalog,
            self.edge_reader,
            self.graph_reader,
            use_indexes=use_indexes,
            vectors=self.extensions.get("vectors"),
        )

    def peers(self) -> list[tuple[str, str]]:
        """(shard id, URL) of every shard in the topology, this node included."""
        found = []
        for shard in self.current_topology()["shards"]:
            url = shard_url(shard)
            shard_id = shard.get("id", url) if isinstance(shard, dict) else url
            found.append((str(shard_id), url))
        return found

    def current_topology(self) -> dict[str, Any]:
        """The cluster topology, or a one-shard topology of this node."""
        if self.topology is not None:
            return self.topology
        shard = {"id": self.shard_id, "http_endpoint": self.advertised_url}
        return {"version": 1, "shards": [shard]}


def node_of(request: Request) -> NodeState:
    """The node serving a request."""
    node: NodeState = request.app.state.node
    return node


def shard_url(shard: Any) -> str:
    """The base URL of a topology shard entry, in any of its accepted shapes."""
    if isinstance(shard, str):
        return shard.rstrip("/")
    for name in ("http_endpoint", "endpoint"):
        if isinstance(shard.get(name), str):
            return str(shard[name]).rstrip("/")
    return str(shard["endpoints"][0]).rstrip("/")
