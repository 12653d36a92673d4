"""Health, statistics and topology routes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from themis._version import __version__
from themis.server.http import json_response
from themis.server.state import node_of


async def health(request: Request) -> Response:
    node = node_of(request)
    body = {
        "status": "healthy",
        "version": __version__,
        "database": "themis",
        "uptime_seconds": node.uptime_seconds(),
        "shard_id": node.shard_id,
    }
    if node.rebalance is not None:
        # Up, but holding data requests while documents move (server/maintenance.py).
        body["rebalancing_to"] = node.rebalance.get("version")
    return json_response(body)


async def stats(request: Request) -> Response:
    node = node_of(request)
    server = {"uptime_seconds": node.uptime_seconds(), "shard_id": node.shard_id}
    body = {
        "server": server,
        "storage": node.storage.stats(),
        "network": node.traffic.as_dict(),
    }
    return json_response(body)


async def topology(request: Request) -> Response:
    return json_response(node_of(request).current_topology())


routes = [
    Route("/", health, methods=["GET", "HEAD"]),
    Route("/health", health, methods=["GET", "HEAD"]),
    Route("/stats", stats, methods=["GET"]),
    Route("/_admin/cluster/topology", topology, methods=["GET"]),
]
