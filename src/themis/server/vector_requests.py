"""Vector requests: the node's vector indexes and the fields requests name them by."""

from __future__ import annotations

from typing import Any

from themis.server.errors import BadRequest, NotFound
from themis.server.http import field
from themis.server.keys import DEFAULT_NAMESPACE, check_segment
from themis.server.state import NodeState
from themis.server.vector_index import VectorIndex
from themis.server.vectors import VectorCatalog

DEFAULT_COLLECTION = "vectors"


def catalog(node: NodeState) -> VectorCatalog:
    """The node's vector indexes."""
    indexes: VectorCatalog = node.extensions["vectors"]
    return indexes


def index_of(node: NodeState, namespace: str, collection: str) -> VectorIndex:
    """The index on a collection.

    Raises:
        NotFound: there is none.
    """
    index = catalog(node).get(namespace, collection)
    if index is None:
        raise no_index(namespace, collection)
    return index


def no_index(namespace: str, collection: str) -> NotFound:
    """The 404 of a collection without a vector index."""
    return NotFound(
        f"no vector index on collection {collection!r} in namespace "
        f"{namespace!r}; create one with POST /vector/index or "
        "POST /vector/batch_insert"
    )


def place(body: Any, *, required: bool) -> tuple[str, str]:
    """The ``(namespace, collection)`` a request names."""
    if required and body.get("collection") is None:
        raise BadRequest("missing required field 'collection'")
    namespace = checked_name(body, "namespace", DEFAULT_NAMESPACE)
    return namespace, checked_name(body, "collection", DEFAULT_COLLECTION)


def checked_name(body: Any, field_name: str, default: str) -> str:
    """A checked namespace, collection or field name, or ``default``."""
    value = body.get(field_name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadRequest(
            f"expected field {field_name!r} to be str, received {type(value).__name__}"
        )
    check_segment(value, field_name)
    if "." in value or ":" in value:
        raise BadRequest(
            f"expected {field_name!r} without '.' or ':', received {value!r}"
        )
    return value


def bounded(body: dict[str, Any], name: str, default: int, limit: int) -> int:
    """An integer field between 1 and ``limit``, or ``default`` when absent."""
    if body.get(name) is None:
        return default
    value: int = field(body, name, int)
    if not 1 <= value <= limit:
        raise BadRequest(f"expected {name!r} between 1 and {limit}, received {value}")
    return value
