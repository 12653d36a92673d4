"""What defines a vector index, and what a vector is.

Distances (smaller is better): cosine ``1 - cos`` with score ``cos``; l2 the squared
Euclidean distance (as upstream and faiss) with score ``1 / (1 + d)``; dot ``-dot``
with score ``dot``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from themis import _json
from themis.server.keys import collection_prefix
from themis.server.storage_ops import Put, ReadView
from themis.server.vector_filters import describe

__all__ = [
    "METRICS",
    "SPEC_PREFIX",
    "IndexSpec",
    "Matrix",
    "score_of",
    "spec_key",
    "stored_specs",
    "vector_of",
]

Matrix = npt.NDArray[np.float32]
METRICS = ("cosine", "l2", "dot")
SPEC_PREFIX = b"vector_index\x1f"


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """The persistent definition of one vector index."""

    namespace: str
    collection: str
    dimension: int
    metric: str = "cosine"
    field: str = "embedding"
    ef_search: int = 128
    m: int = 16
    ef_construction: int = 200

    @property
    def meta_key(self) -> bytes:
        """Where the definition is stored in the ``meta`` space."""
        return spec_key(self.namespace, self.collection)

    def put(self) -> Put:
        """The write that stores this definition."""
        return Put("meta", self.meta_key, _json.dumps(asdict(self)))

    def same_shape(self, other: IndexSpec) -> bool:
        """Whether two definitions index the same vectors the same way."""
        mine = (self.dimension, self.metric, self.field)
        return mine == (other.dimension, other.metric, other.field)


def spec_key(namespace: str, collection: str) -> bytes:
    """The ``meta`` key of the index definition of one collection."""
    return SPEC_PREFIX + collection_prefix(namespace, collection)


def stored_specs(view: ReadView) -> list[IndexSpec]:
    """Every vector index definition stored in the ``meta`` space."""
    return [IndexSpec(**_json.loads(raw)) for _, raw in view.scan("meta", SPEC_PREFIX)]


def vector_of(value: Any, dimension: int | None) -> list[float] | str:
    """The value as a vector, or a message saying why it is not one."""
    if not isinstance(value, list) or not value:
        return f"expected a non-empty array of numbers, received {describe(value)}"
    for position, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int | float):
            return (
                f"expected numbers in the vector, received {describe(item)} "
                f"at position {position}"
            )
        if not _finite(item):
            return (
                f"expected finite numbers, received {describe(item)} "
                f"at position {position}"
            )
    if dimension is not None and len(value) != dimension:
        return f"expected a vector of dimension {dimension}, received {len(value)}"
    return [float(item) for item in value]


def _finite(number: int | float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an integer beyond the float range
        return False


def score_of(metric: str, distance: float) -> float:
    """The similarity reported beside a distance (larger is better)."""
    if metric == "cosine":
        return 1.0 - distance
    if metric == "dot":
        return -distance
    return 1.0 / (1.0 + distance)
