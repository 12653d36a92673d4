"""An in-process fake cluster of themis nodes, served through httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from themis import ThemisClient
from themis._core.retry import RetryPolicy

Override = Callable[[httpx.Request], httpx.Response | None]


def error(status: int, message: str) -> httpx.Response:
    """Returns a response with the themis error body."""
    body = {"error": True, "message": message, "status_code": status}
    return httpx.Response(status, json=body)


@dataclass
class FakeNode:
    """One shard: a dict of stored blobs and the routes the SDK uses."""

    shard_id: str
    endpoint: str
    store: dict[str, str] = field(default_factory=dict)
    vectors: dict[str, list[float]] = field(default_factory=dict)
    batch_routes: bool = True
    down: bool = False
    cluster: list[FakeNode] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        body: Any = json.loads(request.content) if request.content else None
        if path.startswith("/entities/"):
            return self._entity(request.method, path.removeprefix("/entities/"), body)
        if path.startswith("/batch/"):
            return self._batch(path.removeprefix("/batch/"), body)
        routes: dict[str, Callable[[], Any]] = {
            "/health": lambda: {"status": "healthy", "shard_id": self.shard_id},
            "/query/aql": lambda: self._query(body),
            "/vector/search": lambda: self._search(body),
            "/graph/traverse": lambda: {"visited": [body["start_vertex"]]},
        }
        route = routes.get(path)
        if route is None:
            return error(404, "Endpoint not found")
        return httpx.Response(200, json=route())

    def _entity(self, method: str, key: str, body: Any) -> httpx.Response:
        if method == "PUT":
            self.store[key] = body["blob"]
            return httpx.Response(201, json={"success": True, "key": key})
        if key not in self.store:
            return error(404, "Entity not found")
        if method == "DELETE":
            del self.store[key]
            return httpx.Response(200, json={"success": True, "key": key})
        return httpx.Response(200, json={"key": key, "blob": self.store[key]})

    def _batch(self, action: str, body: Any) -> httpx.Response:
        if not self.batch_routes:
            return error(404, "Endpoint not found")
        if "pks" in body:
            body["keys"] = [f"{body['table']}:{pk}" for pk in body["pks"]]
        if action == "get":
            as_documents = body.get("documents") is True
            found = {
                k: json.loads(self.store[k]) if as_documents else self.store[k]
                for k in body["keys"]
                if k in self.store
            }
            missing = [k for k in body["keys"] if k not in self.store]
            return httpx.Response(
                200, json={"found": found, "missing": missing, "errors": {}}
            )
        if action == "put":
            for item in body["items"]:
                text = json.dumps(item["doc"]) if "doc" in item else item["blob"]
                self.store[item["key"]] = text
            keys = [item["key"] for item in body["items"]]
            return httpx.Response(200, json={"succeeded": keys, "failed": {}})
        gone = [k for k in body["keys"] if self.store.pop(k, None) is not None]
        missing = [k for k in body["keys"] if k not in gone]
        return httpx.Response(
            200, json={"succeeded": gone, "missing": missing, "failed": {}}
        )

    def _query(self, body: Any) -> dict[str, Any]:
        # Like a real node, a cluster-scoped query covers every shard's data.
        coordinating = body.get("scope") != "local" and self.cluster
        stores = [node.store for node in self.cluster] if coordinating else [self.store]
        merged = {key: blob for store in stores for key, blob in store.items()}
        rows = [json.loads(merged[key]) for key in sorted(merged)]
        if not body["use_cursor"]:
            return {"entities": rows, "count": len(rows)}
        size = body["batch_size"] or 2
        start = int(body["cursor"] or 0)
        page = rows[start : start + size]
        more = start + size < len(rows)
        answer: dict[str, Any] = {"items": page, "has_more": more, "batch_size": size}
        if more:
            answer["next_cursor"] = str(start + size)
        return answer

    def _search(self, body: Any) -> dict[str, Any]:
        query = body["vector"]
        hits = [
            {
                "pk": pk,
                "distance": sum((a - b) ** 2 for a, b in zip(vec, query, strict=True)),
            }
            for pk, vec in self.vectors.items()
        ]
        hits.sort(key=lambda hit: hit["distance"])
        return {"results": hits[: body["k"]]}


class FakeCluster:
    """Several fake nodes behind one MockTransport, dispatched by host.

    Every node serves ``/_admin/cluster/topology`` with the cluster's topology.
    """

    def __init__(self, shards: int = 3, *, version: int = 1) -> None:
        self.version = version
        self.nodes = {
            f"node{i}": FakeNode(f"s{i}", f"http://node{i}:8765") for i in range(shards)
        }
        for node in self.nodes.values():
            node.cluster = list(self.nodes.values())
        self.requests: list[httpx.Request] = []
        self.topology_fetches = 0
        self.override: Override | None = None

    @property
    def endpoints(self) -> list[str]:
        return [node.endpoint for node in self.nodes.values()]

    def payload(self) -> dict[str, Any]:
        shards = [
            {"id": node.shard_id, "http_endpoint": node.endpoint}
            for node in self.nodes.values()
        ]
        return {"version": self.version, "shards": shards}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.override(request) if self.override is not None else None
        if answer is not None:
            return answer
        node = self.nodes.get(request.url.host)
        if node is None:
            raise httpx.ConnectError("name or service not known", request=request)
        if request.url.path == "/_admin/cluster/topology" and not node.down:
            self.topology_fetches += 1
            return httpx.Response(200, json=self.payload())
        return node.handle(request)

    def client(self, **kwargs: Any) -> ThemisClient:
        """Returns a client bootstrapped from every node, with instant retries."""
        kwargs.setdefault("_retry", RetryPolicy(jitter=lambda: 0.0))
        kwargs.setdefault("_sleep", lambda seconds: None)
        return ThemisClient(
            self.endpoints, transport=httpx.MockTransport(self.handle), **kwargs
        )

    def move(self, node: FakeNode, host: str) -> None:
        """Moves a shard (id and data) to a new address; the old one stops answering."""
        del self.nodes[httpx.URL(node.endpoint).host]
        node.endpoint = f"http://{host}:8765"
        self.nodes[host] = node
        self.version += 1

    def holder(self, key: str) -> FakeNode:
        """Returns the node storing ``key``."""
        (node,) = [node for node in self.nodes.values() if key in node.store]
        return node

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.host}{r.url.path}" for r in self.requests]
