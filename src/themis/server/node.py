"""Running a node: open the storage, build the app, serve until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import gc
import logging
import secrets
import signal
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette

from themis import _json
from themis.aql import Budget
from themis.server import maintenance, shard_parts, two_phase
from themis.server.app import create_app
from themis.server.auth import TokenStore
from themis.server.cursors import CursorRegistry, TokenCodec
from themis.server.documents import DocumentStore
from themis.server.graph import install_graph
from themis.server.http import DEFAULT_MAX_BODY_BYTES
from themis.server.indexes import IndexCatalog
from themis.server.state import NodeState
from themis.server.storage import DEFAULT_MAP_SIZE, Storage
from themis.server.topology import (
    ConfigError,
    EtcdTopology,
    is_etcd_url,
    load_topology_file,
)
from themis.server.transaction_manager import TransactionManager
from themis.server.vectors import install_vectors

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8765
# Allocations between young-generation collections (the interpreter default is 700).
_GC_YOUNG_THRESHOLD = 10_000


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
    topology: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    map_size: int = DEFAULT_MAP_SIZE
    durable: bool = True
    server: HttpServer = HttpServer.GRANIAN
    query_budget: Budget = field(default_factory=Budget)
    tokens_file: Path | None = None

    @property
    def url(self) -> str:
        """The URL clients reach this node at."""
        return f"http://{self.host}:{self.port}"


def open_node(config: NodeConfig) -> NodeState:
    """Open the storage and identity of a node without serving it.

    Raises:
        ConfigError: the topology file is unreadable or malformed.
        Unavailable: the topology lives in etcd and etcd does not answer.
    """
    # What can be refused is read before the storage opens.
    topology = None
    if config.topology and not is_etcd_url(config.topology):
        topology = load_topology_file(Path(config.topology))
    tokens = None
    if config.tokens_file is not None:
        tokens = TokenStore.load(config.tokens_file)
    storage = Storage(
        config.data_dir / "lmdb", map_size=config.map_size, durable=config.durable
    )
    shard_id = _shard_id(config.data_dir, config.shard_id)
    node = NodeState(
        storage=storage,
        documents=DocumentStore(storage),
        catalog=IndexCatalog(storage),
        cursors=CursorRegistry(TokenCodec(_node_secret(config.data_dir))),
        transactions=TransactionManager(storage),
        shard_id=shard_id,
        advertised_url=config.url,
        topology=topology,
        query_budget=config.query_budget,
    )
    node.transactions.on_finish = functools.partial(shard_parts.release, node)
    node.tokens = tokens
    install_graph(node)
    install_vectors(node, config.data_dir / "vectors")
    maintenance.restore(node)
    return node


def serve(config: NodeConfig, *, ready: Callable[[], None] | None = None) -> None:
    """Serve a node in the foreground until SIGINT or SIGTERM.

    Args:
        config: What to serve and where.
        ready: Called once the node is about to accept requests.
    """
    _check_listen(config.host, config.port)
    node = open_node(config)
    follower = None
    try:
        _settle_memory()
        if config.topology and is_etcd_url(config.topology):
            follower = EtcdTopology(config.topology)
            node.topology = follower.read()
            follower.start(node)
        recovery = two_phase.Recovery(node)
        recovery.start()
        try:
            asyncio.run(_serve(node, config, ready))
        finally:
            recovery.stop()
    finally:
        if follower is not None:
            follower.stop()
        node.cursors.close_all()
        node.transactions.close_all()
        _close_storage(node)


def _check_listen(host: str, port: int) -> None:
    """Refuses an address another process listens on, before anything is opened.

    Raises:
        ConfigError: the address cannot be bound.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            # As the HTTP server binds: a port left in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
            f"choose another --port or --host"
        ) from None


def _settle_memory() -> None:
    # Every write request parses thousands of documents that live until their
    # commit, so the collector would walk the node's long-lived objects (modules,
    # indexes) over and over: a quarter of a batch write's CPU time, measured.
    # Those objects are frozen out of collections, and young ones are collected
    # less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _close_storage(node: NodeState) -> None:
    # With writes stopped the vector indexes match the storage's last version, so
    # they are saved for the next start, which then need not rebuild them.
    node.storage.stop_writes()
    catalog = node.extensions.get("vectors")
    if catalog is not None:
        try:
            saved = catalog.save()
        except OSError as exc:
            logger.warning("could not save the vector indexes: %s", exc)
        else:
            logger.info("saved %d vector indexes for the next start", saved)
    node.storage.close()


async def _serve(
    node: NodeState, config: NodeConfig, ready: Callable[[], None] | None
) -> None:
    app = create_app(node, max_body_bytes=config.max_body_bytes)
    logger.info("node %s serving on %s", node.shard_id, config.url)
    if ready is not None:
        ready()
    if config.server is HttpServer.GRANIAN and _granian_available():
        await _serve_granian(app, config)
    else:
        await _serve_uvicorn(app, config)


def _granian_available() -> bool:
    try:
        import granian.server.embed  # noqa: F401
    except ImportError:
        logger.warning("granian is not installed here; serving with uvicorn instead")
        return False
    return True


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

    class Server(uvicorn.Server):
        # uvicorn re-raises a captured signal after its shutdown, which would kill
        # the process before the node closes its storage; stop it quietly instead.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, self._stop)
            try:
                yield
            finally:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(signum)

        def _stop(self) -> None:
            self.should_exit = True

    settings = uvicorn.Config(
        app, host=config.host, port=config.port, log_config=None, lifespan="off"
    )
    await Server(settings).serve()


def _shard_id(data_dir: Path, requested: str | None) -> str:
    """The shard id given, else the one this data directory was created with."""
    path = data_dir / "node.json"
    stored = _json.loads(path.read_bytes()).get("shard_id") if path.exists() else None
    shard_id = requested or stored or f"shard-{uuid.uuid4().hex[:8]}"
    if shard_id != stored:
        path.write_bytes(_json.dumps({"shard_id": shard_id}))
    return str(shard_id)


def _node_secret(data_dir: Path) -> bytes:
    """The key signing this node's cursor tokens; kept so tokens outlive restarts."""
    path = data_dir / "cursor.key"
    if not path.exists():
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()
