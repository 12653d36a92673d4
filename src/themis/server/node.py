"""Running a node: open the storage, build the app, serve until told to stop."""

from __future__ import annotations

import asyncio
import enum
import logging
import signal
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from themis import _json
from themis.server.app import create_app
from themis.server.documents import DocumentStore
from themis.server.errors import ServerError
from themis.server.http import DEFAULT_MAX_BODY_BYTES
from themis.server.state import NodeState
from themis.server.storage import Storage

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8765


class HttpServer(enum.StrEnum):
    """The ASGI servers a node can run on."""

    GRANIAN = "granian"
    UVICORN = "uvicorn"


@dataclass
class NodeConfig:
    """How to run one node."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = Path("themis-data")
    shard_id: str | None = None
    topology_file: Path | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    durable: bool = True
    server: HttpServer = HttpServer.GRANIAN

    @property
    def url(self) -> str:
        """The URL clients reach this node at."""
        return f"http://{self.host}:{self.port}"


class ConfigError(ServerError):
    """The node's configuration cannot be used."""


def open_node(config: NodeConfig) -> NodeState:
    """Open the storage and identity of a node without serving it.

    Raises:
        ConfigError: the topology file is unreadable or malformed.
    """
    storage = Storage(config.data_dir / "lmdb", durable=config.durable)
    shard_id = _shard_id(config.data_dir, config.shard_id)
    topology = (
        load_topology_file(config.topology_file) if config.topology_file else None
    )
    return NodeState(
        storage=storage,
        documents=DocumentStore(storage),
        shard_id=shard_id,
        advertised_url=config.url,
        topology=topology,
    )


def load_topology_file(path: Path) -> dict[str, Any]:
    """Read and check a topology document ``{"version", "shards": [...]}``.

    Raises:
        ConfigError: the file is missing, not JSON, or not a topology.
    """
    try:
        payload = _json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read topology file {str(path)!r}: {exc}") from exc
    shards = payload.get("shards") if isinstance(payload, dict) else None
    if not isinstance(shards, list) or not shards:
        raise ConfigError(
            f"expected topology file {str(path)!r} to hold an object with a "
            f"non-empty 'shards' list, received {payload!r:.120}"
        )
    if not isinstance(payload.get("version", 1), int):
        raise ConfigError(f"expected an integer 'version' in {str(path)!r}")
    return dict(payload)


def serve(config: NodeConfig, *, ready: Callable[[], None] | None = None) -> None:
    """Serve a node in the foreground until SIGINT or SIGTERM.

    Args:
        config: What to serve and where.
        ready: Called once the node is about to accept requests.
    """
    node = open_node(config)
    try:
        asyncio.run(_serve(node, config, ready))
    finally:
        node.storage.close()


async def _serve(
    node: NodeState, config: NodeConfig, ready: Callable[[], None] | None
) -> None:
    app = create_app(node, max_body_bytes=config.max_body_bytes)
    logger.info("node %s serving on %s", node.shard_id, config.url)
    if ready is not None:
        ready()
    if config.server is HttpServer.GRANIAN:
        await _serve_granian(app, config)
    else:
        await _serve_uvicorn(app, config)


async def _serve_granian(app: Starlette, config: NodeConfig) -> None:
    from granian.constants import Interfaces
    from granian.server.embed import Server

    server = Server(
        app,
        address=config.host,
        port=config.port,
        interface=Interfaces.ASGINL,
        log_enabled=False,
        backlog=1024,
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, server.stop)
    await server.serve()


async def _serve_uvicorn(app: Starlette, config: NodeConfig) -> None:
    import uvicorn

    settings = uvicorn.Config(
        app, host=config.host, port=config.port, log_config=None, lifespan="off"
    )
    # uvicorn installs its own SIGINT/SIGTERM handlers for a clean shutdown.
    await uvicorn.Server(settings).serve()


def _shard_id(data_dir: Path, requested: str | None) -> str:
    """The shard id given, else the one this data directory was created with."""
    path = data_dir / "node.json"
    stored = _json.loads(path.read_bytes()).get("shard_id") if path.exists() else None
    shard_id = requested or stored or f"shard-{uuid.uuid4().hex[:8]}"
    if shard_id != stored:
        path.write_bytes(_json.dumps({"shard_id": shard_id}))
    return str(shard_id)
