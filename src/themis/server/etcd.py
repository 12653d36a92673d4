"""A small etcd v3 client over its JSON gateway, for topology and liveness.

The gateway (``/v3/kv/*``, ``/v3/lease/*``) ships with every etcd since 3.3 and needs
nothing but HTTP, so the node talks to etcd with httpx instead of pulling in gRPC.
"""

from __future__ import annotations

import base64
import logging
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from themis import _json
from themis.server.errors import Unavailable

logger = logging.getLogger(__name__)

DEFAULT_TOPOLOGY_KEY = "/themis/topology"
NODES_PREFIX = "/themis/nodes/"


@dataclass(frozen=True)
class EtcdLocation:
    """An etcd endpoint and the key a document lives under."""

    base_url: str
    key: str

    @classmethod
    def parse(cls, url: str) -> EtcdLocation:
        """Read ``etcd://host:port/key/path`` (or an http URL with a key path).

        Raises:
            ValueError: the URL names no host.
        """
        parts = urlsplit(url)
        if not parts.netloc:
            raise ValueError(
                f"expected an etcd URL such as etcd://host:2379/key, got {url!r}"
            )
        scheme = "https" if parts.scheme in ("etcds", "https") else "http"
        key = parts.path if parts.path not in ("", "/") else DEFAULT_TOPOLOGY_KEY
        return cls(f"{scheme}://{parts.netloc}", key)

    @property
    def nodes_prefix(self) -> str:
        """Where the liveness records of this topology's nodes live.

        They sit beside the topology key (``/themis/topology`` -> ``/themis/nodes/``),
        so that several clusters can share one etcd without mixing their nodes.
        """
        parent = self.key.rstrip("/").rsplit("/", 1)[0]
        return f"{parent}/nodes/"


def _b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def _prefix_end(prefix: str) -> str:
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return _b64(bytes(raw))


class EtcdClient:
    """Key-value and lease calls against one etcd endpoint."""

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout)

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._http.close()

    def put(self, key: str, value: bytes, *, lease: int | None = None) -> None:
        """Store a value, optionally bound to a lease."""
        body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease is not None:
            body["lease"] = str(lease)
        self._call("/v3/kv/put", body)

    def get(self, key: str) -> bytes | None:
        """The value of one key, or None."""
        kvs = self._call("/v3/kv/range", {"key": _b64(key)}).get("kvs", [])
        return base64.b64decode(kvs[0]["value"]) if kvs else None

    def get_prefix(self, prefix: str) -> dict[str, bytes]:
        """Every key under a prefix with its value."""
        body = {"key": _b64(prefix), "range_end": _prefix_end(prefix)}
        kvs = self._call("/v3/kv/range", body).get("kvs", [])
        return {
            base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", ""))
            for kv in kvs
        }

    def grant(self, ttl: int) -> int:
        """A new lease that expires after ``ttl`` seconds without keep-alive."""
        return int(self._call("/v3/lease/grant", {"TTL": ttl})["ID"])

    def keep_alive(self, lease: int) -> None:
        """Renew a lease once."""
        self._call("/v3/lease/keepalive", {"ID": str(lease)})

    def revoke(self, lease: int) -> None:
        """End a lease and delete the keys bound to it."""
        self._call("/v3/lease/revoke", {"ID": str(lease)})

    def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(path, content=_json.dumps(body))
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"etcd at {self._http.base_url} failed on {path}: {exc}"
            ) from exc
        payload: dict[str, Any] = _json.loads(response.content)
        return payload


class Liveness:
    """Keeps ``<prefix><shard id>`` alive under a lease while the node runs.

    Args:
        client: The etcd client.
        shard_id: The node's shard id.
        url: The URL the node answers on.
        prefix: Where the records live, ``/themis/nodes/`` by default.
        ttl: Seconds the record outlives the node's last keep-alive (a crash).
    """

    def __init__(
        self,
        client: EtcdClient,
        shard_id: str,
        url: str,
        *,
        prefix: str = NODES_PREFIX,
        ttl: int = 10,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._stop = threading.Event()
        self._lease = client.grant(ttl)
        record = _json.dumps({"id": shard_id, "http_endpoint": url})
        client.put(prefix + shard_id, record, lease=self._lease)
        self._thread = threading.Thread(
            target=self._renew, name="themis-liveness", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing and revoke the lease, so the record disappears at once."""
        self._stop.set()
        self._thread.join()
        try:
            self._client.revoke(self._lease)
        except Unavailable as exc:
            logger.warning("could not revoke liveness lease: %s", exc)

    def _renew(self) -> None:
        while not self._stop.wait(self._ttl / 3):
            try:
                self._client.keep_alive(self._lease)
            except Unavailable as exc:
                logger.warning("liveness keep-alive failed: %s", exc)


def live_nodes(
    client: EtcdClient, prefix: str = NODES_PREFIX
) -> dict[str, dict[str, Any]]:
    """The nodes whose liveness lease is current, by shard id."""
    records = client.get_prefix(prefix)
    return {key[len(prefix) :]: _json.loads(value) for key, value in records.items()}
