"""Topology values, payload parsing and the client's topology bookkeeping."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from themis import _routing
from themis.errors import TopologyError

__all__ = ["Shard", "Topology", "TopologyState", "bootstrap_topology", "parse_topology"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shard:
    """One shard: a stable id and the base URL it answers on."""

    id: str
    endpoint: str


@dataclass(frozen=True)
class Topology:
    """The shards of a cluster at one version.

    Attributes:
        version: The topology version; a higher version replaces a lower one.
        shards: The shards, in the order the source listed them.
    """

    version: int
    shards: tuple[Shard, ...]

    @property
    def shard_ids(self) -> list[str]:
        """The ids of every shard."""
        return [shard.id for shard in self.shards]

    def shard(self, shard_id: str) -> Shard:
        """Returns the shard with this id.

        Raises:
            TopologyError: No shard has this id.
        """
        for shard in self.shards:
            if shard.id == shard_id:
                return shard
        raise TopologyError(
            f"shard {shard_id!r} is not in topology version {self.version} "
            f"(shards: {self.shard_ids}); retry the operation"
        )

    @functools.cached_property
    def router(self) -> _routing.Router:
        """Routes keys over this topology's shard ids."""
        return _routing.router(self.shard_ids)

    def owner(self, route_key: str) -> Shard:
        """Returns the shard owning a routing key."""
        return self.shard(self.router.owner(route_key))


def normalize_endpoint(url: str) -> str:
    """Strips trailing slashes from a base URL."""
    return url.rstrip("/")


def bootstrap_topology(endpoints: Sequence[str]) -> Topology:
    """Returns the fallback topology: each bootstrap URL is a shard named by its URL."""
    urls = list(dict.fromkeys(normalize_endpoint(url) for url in endpoints))
    return Topology(version=-1, shards=tuple(Shard(url, url) for url in urls))


def parse_topology(payload: Any, source: str) -> Topology:
    """Parses a topology document ``{"version": int, "shards": [...]}``.

    A shard is a URL string or an object with ``http_endpoint``, ``endpoint`` or
    ``endpoints`` (the first is used) and optionally ``id`` (default: the URL).

    Args:
        payload: The decoded document.
        source: Where it came from, for error messages.

    Raises:
        TopologyError: The document is not of that shape.
    """
    if not isinstance(payload, dict):
        raise TopologyError(
            f"expected a topology object {{'version': int, 'shards': [...]}} "
            f"from {source}, got {payload!r:.200}"
        )
    version = payload.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise TopologyError(
            f"expected an integer 'version' in the topology from {source}, "
            f"got {version!r}"
        )
    entries = payload.get("shards")
    if not isinstance(entries, list) or not entries:
        raise TopologyError(
            f"expected a non-empty list 'shards' in the topology from {source}, "
            f"got {entries!r:.200}"
        )
    shards = tuple(
        _parse_shard(entry, index, source) for index, entry in enumerate(entries)
    )
    _check_unique(shards, source)
    return Topology(version=version, shards=shards)


def _parse_shard(entry: Any, index: int, source: str) -> Shard:
    endpoint: Any = entry
    shard_id: Any = None
    if isinstance(entry, dict):
        endpoints = entry.get("endpoints")
        first = endpoints[0] if isinstance(endpoints, list) and endpoints else None
        endpoint = entry.get("http_endpoint") or entry.get("endpoint") or first
        shard_id = entry.get("id")
    if not isinstance(endpoint, str) or not endpoint.startswith(
        ("http://", "https://")
    ):
        raise TopologyError(
            f"expected shard {index} in the topology from {source} to be a URL or "
            "an object with 'http_endpoint', 'endpoint' or 'endpoints', "
            f"got {entry!r:.200}"
        )
    endpoint = normalize_endpoint(endpoint)
    if shard_id is None:
        shard_id = endpoint
    if (
        not isinstance(shard_id, str | int)
        or isinstance(shard_id, bool)
        or shard_id == ""
    ):
        raise TopologyError(
            f"expected a string or integer 'id' for shard {index} in the topology "
            f"from {source}, got {shard_id!r}"
        )
    return Shard(str(shard_id), endpoint)


def _check_unique(shards: tuple[Shard, ...], source: str) -> None:
    seen: set[str] = set()
    for shard in shards:
        if shard.id in seen:
            raise TopologyError(
                f"expected unique shard ids in the topology from {source}, "
                f"got {shard.id!r} twice"
            )
        seen.add(shard.id)


class TopologyState:
    """The topology a client routes by, and when to read it again.

    The state never fetches anything: drivers ask :meth:`due`, fetch, and report the
    result with :meth:`install` or :meth:`fall_back`.

    Args:
        bootstrap: The endpoints given to the client.
        ttl: Seconds after which a loaded topology is read again.
        retry_after_failure: Seconds to wait before asking an unreachable source again.
    """

    def __init__(
        self, bootstrap: Sequence[str], ttl: float, retry_after_failure: float = 5.0
    ) -> None:
        self.bootstrap = bootstrap_topology(bootstrap)
        self.ttl = ttl
        self.retry_after_failure = retry_after_failure
        self.current: Topology | None = None
        self.generation = 0
        self._next_refresh = 0.0

    def due(self, now: float) -> bool:
        """Whether the topology should be (re)read before routing."""
        return self.current is None or now >= self._next_refresh

    def expire(self) -> None:
        """Makes the next :meth:`due` true, e.g. after a connection error."""
        self._next_refresh = 0.0

    def install(self, topology: Topology, now: float) -> Topology:
        """Records a freshly read topology; an older version never replaces a newer.

        Returns:
            The topology now in use.
        """
        current = self.current
        if current is not None and current.version > topology.version:
            logger.warning(
                "ignoring topology version %s older than the current version %s",
                topology.version,
                current.version,
            )
        elif current != topology:
            logger.debug("topology version %s: %s", topology.version, topology.shards)
            self.current = topology
        return self._settle(now + self.ttl)

    def fall_back(self, now: float) -> Topology:
        """Records that no metadata source answered.

        The last topology read stays in use; without one, the bootstrap list does.

        Returns:
            The topology now in use.
        """
        if self.current is None:
            logger.info("no topology source answered; using the bootstrap endpoints")
            self.current = self.bootstrap
        return self._settle(now + self.retry_after_failure)

    def _settle(self, next_refresh: float) -> Topology:
        self._next_refresh = next_refresh
        self.generation += 1
        assert self.current is not None
        return self.current
