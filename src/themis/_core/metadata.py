"""Where the topology is read from: the nodes, etcd (v3 and v2) or Consul."""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson

from themis._core.effects import Call, Operation, Reply
from themis._core.topology import Topology, parse_topology
from themis.errors import ThemisError, TopologyError

__all__ = ["MetadataSource", "SourceKind", "fetch_topology"]

logger = logging.getLogger(__name__)

# Any error status means "this source has nothing", so the core sees them all.
_ANY_ERROR = frozenset(range(400, 600))


class SourceKind(Enum):
    """The kinds of metadata store the client can read."""

    NODE = "node"
    PLAIN = "plain"
    ETCD3 = "etcd3"
    ETCD2 = "etcd2"
    CONSUL = "consul"


@dataclass(frozen=True)
class MetadataSource:
    """A parsed ``metadata_endpoint``.

    Attributes:
        kind: The kind of store.
        base: The store's base URL (empty for :attr:`SourceKind.NODE`).
        path: The path to request (with query string where needed).
        key: For etcd v3, the key to range over.
    """

    kind: SourceKind
    base: str
    path: str
    key: str = ""

    @classmethod
    def parse(cls, location: str) -> MetadataSource:
        """Classifies a relative path or a full URL.

        Raises:
            ValueError: The location is neither a path nor an http(s)/etcd URL.
        """
        if location.startswith("/"):
            return cls(SourceKind.NODE, "", location)
        parts = urlsplit(location)
        if parts.scheme not in ("http", "https", "etcd") or not parts.netloc:
            raise ValueError(
                "metadata_endpoint must be a path starting with '/' or an http(s):// "
                f"or etcd:// URL, got {location!r}"
            )
        if parts.scheme == "etcd":
            return cls(
                SourceKind.ETCD3, f"http://{parts.netloc}", "/v3/kv/range", parts.path
            )
        base = f"{parts.scheme}://{parts.netloc}"
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if parts.path.rstrip("/") == "/v3/kv/range":
            key = parse_qs(parts.query).get("key", [""])[0]
            return cls(SourceKind.ETCD3, base, "/v3/kv/range", key)
        if parts.path.startswith("/v2/keys/"):
            return cls(SourceKind.ETCD2, base, path)
        if parts.path.startswith("/v1/kv/"):
            return cls(SourceKind.CONSUL, base, path)
        return cls(SourceKind.PLAIN, base, path)

    def calls(self, bootstrap: Sequence[str]) -> list[Call]:
        """Returns the requests to try, in order, until one answers."""
        if self.kind is SourceKind.NODE:
            return [self._call("GET", self.path, url, auth=True) for url in bootstrap]
        if self.kind is SourceKind.ETCD3:
            body = {"key": base64.b64encode(self.key.encode()).decode()}
            return [self._call("POST", self.path, self.base, body=body)]
        return [self._call("GET", self.path, self.base)]

    def describe(self) -> str:
        """Names the source in messages."""
        return f"{self.kind.value} {self.base}{self.path} {self.key}".rstrip()

    def document(self, reply: Reply) -> Any:
        """Extracts the topology document from a store's answer.

        Returns:
            The decoded document, or ``None`` when the store has no such key.

        Raises:
            TopologyError: The answer is not what this kind of store sends.
        """
        try:
            payload = reply.json()
            if self.kind is SourceKind.ETCD3:
                return _etcd3_document(payload)
            if self.kind is SourceKind.ETCD2:
                return _etcd2_document(payload)
            if self.kind is SourceKind.CONSUL:
                return _consul_document(payload)
        except (ThemisError, ValueError, KeyError, TypeError, IndexError) as exc:
            expected = "topology JSON"
            if self.kind not in (SourceKind.NODE, SourceKind.PLAIN):
                expected = f"an {self.kind.value} answer holding topology JSON"
            raise TopologyError(
                f"expected {expected} from {reply.url}, got {reply.content[:200]!r}"
            ) from exc
        return payload

    def _call(
        self, method: str, path: str, base: str, *, body: Any = None, auth: bool = False
    ) -> Call:
        return Call(
            method,
            path,
            body=body,
            endpoint=base,
            accept=_ANY_ERROR,
            retry=False,
            auth=auth,
        )


def _etcd3_document(payload: Any) -> Any:
    kvs = payload.get("kvs") or []
    if not kvs:
        return None
    return orjson.loads(base64.b64decode(kvs[0]["value"], validate=True))


def _etcd2_document(payload: Any) -> Any:
    return orjson.loads(payload["node"]["value"])


def _consul_document(payload: Any) -> Any:
    if isinstance(payload, dict):
        return payload  # read with ?raw: the stored document itself
    if not payload:
        return None
    return orjson.loads(base64.b64decode(payload[0]["Value"], validate=True))


def fetch_topology(
    source: MetadataSource, bootstrap: Sequence[str]
) -> Operation[Topology | None]:
    """Reads the topology from the first source that answers.

    Returns:
        The topology, or ``None`` when no source answered (connection error, error
        status, or a store without the key).

    Raises:
        TopologyError: A source answered with something that is not a topology.
    """
    for call in source.calls(bootstrap):
        try:
            reply: Reply = yield call
        except httpx.TransportError as exc:
            logger.debug("topology source %s unreachable: %s", call.endpoint, exc)
            continue
        if not reply.ok:
            logger.debug("topology source %s answered %s", reply.url, reply.status)
            continue
        document = source.document(reply)
        if document is not None:
            return parse_topology(document, reply.url)
    return None
