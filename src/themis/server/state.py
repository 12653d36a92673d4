"""What one node holds while it runs, reachable from every request."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from themis.server.documents import DocumentStore
from themis.server.storage import Storage


@dataclass
class NodeState:
    """The storage, identity and topology of a running node."""

    storage: Storage
    documents: DocumentStore
    shard_id: str
    advertised_url: str
    topology: dict[str, Any] | None = None
    started: float = field(default_factory=time.monotonic)
    extensions: dict[str, Any] = field(default_factory=dict)

    def uptime_seconds(self) -> int:
        """Whole seconds since the node started."""
        return int(time.monotonic() - self.started)

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
