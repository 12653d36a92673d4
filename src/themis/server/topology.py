"""Where a node's cluster topology comes from: a file, or etcd kept up to date."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from themis import _json
from themis.server.errors import ServerError, Unavailable
from themis.server.etcd import EtcdClient, EtcdLocation, Liveness
from themis.server.state import NodeState

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0


class ConfigError(ServerError):
    """The node's configuration cannot be used."""


def check_topology(payload: Any, origin: str) -> dict[str, Any]:
    """Validate a topology document ``{"version", "shards": [...]}``.

    Raises:
        ConfigError: the document is not a usable topology.
    """
    shards = payload.get("shards") if isinstance(payload, dict) else None
    if not isinstance(shards, list) or not shards:
        raise ConfigError(
            f"expected the topology in {origin} to be an object with a non-empty "
            f"'shards' list, received {payload!r:.120}"
        )
    if not isinstance(payload.get("version", 1), int):
        raise ConfigError(f"expected an integer 'version' in the topology in {origin}")
    return dict(payload)


def load_topology_file(path: Path) -> dict[str, Any]:
    """Read and check a topology file.

    Raises:
        ConfigError: the file is missing, not JSON, or not a topology.
    """
    try:
        payload = _json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read topology file {str(path)!r}: {exc}") from exc
    return check_topology(payload, f"file {str(path)!r}")


def is_etcd_url(source: str) -> bool:
    """Whether a ``--topology`` value names etcd rather than a file."""
    return source.startswith(("etcd://", "etcds://"))


class EtcdTopology:
    """Reads the topology from etcd, re-reads it while the node runs, and keeps the
    node's liveness record under a lease.
    """

    def __init__(self, url: str) -> None:
        self.location = EtcdLocation.parse(url)
        self.client = EtcdClient(self.location.base_url)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._liveness: Liveness | None = None

    def read(self) -> dict[str, Any]:
        """The current topology document.

        Raises:
            ConfigError: etcd holds no topology under the key, or a malformed one.
            Unavailable: etcd does not answer.
        """
        raw = self.client.get(self.location.key)
        origin = f"etcd key {self.location.key!r}"
        if raw is None:
            raise ConfigError(f"no topology found in {origin}; run 'themis cluster up'")
        try:
            return check_topology(_json.loads(raw), origin)
        except ValueError as exc:
            raise ConfigError(f"the topology in {origin} is not JSON: {exc}") from exc

    def start(self, node: NodeState) -> None:
        """Register the node's liveness and follow topology changes."""
        self._liveness = Liveness(
            self.client,
            node.shard_id,
            node.advertised_url,
            prefix=self.location.nodes_prefix,
        )
        self._thread = threading.Thread(
            target=self._follow, args=(node,), name="themis-topology", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop following and drop the liveness record."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._liveness is not None:
            self._liveness.stop()
        self.client.close()

    def _follow(self, node: NodeState) -> None:
        while not self._stop.wait(REFRESH_SECONDS):
            self.refresh(node)

    def refresh(self, node: NodeState) -> None:
        """Adopts the topology in etcd if it is newer than the node's.

        Never an older one: a read that began before a rebalance published its
        target may end after the node adopted that target.
        """
        try:
            latest = self.read()
        except (ConfigError, Unavailable) as exc:
            logger.warning("keeping topology version %s: %s", _version(node), exc)
            return
        current = _version(node)
        if current is None or latest.get("version", 1) > current:
            logger.info("topology changed to version %s", latest.get("version"))
            node.topology = latest


def _version(node: NodeState) -> int | None:
    return None if node.topology is None else int(node.topology.get("version", 1))
