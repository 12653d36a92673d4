"""Python SDK for ThemisDB, a sharded multi-model database."""

from themis._core.topology import Shard, Topology
from themis._version import __version__
from themis.async_client import AsyncThemisClient
from themis.async_transaction import AsyncTransaction
from themis.client import ThemisClient
from themis.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    QueryError,
    ThemisError,
    ThemisHTTPError,
    TopologyError,
)
from themis.results import BatchGetResult, BatchWriteResult, QueryResult
from themis.transaction import Transaction

__all__ = [
    "AsyncThemisClient",
    "AsyncTransaction",
    "BadRequestError",
    "BatchGetResult",
    "BatchWriteResult",
    "ConflictError",
    "NotFoundError",
    "QueryError",
    "QueryResult",
    "Shard",
    "ThemisClient",
    "ThemisError",
    "ThemisHTTPError",
    "Topology",
    "TopologyError",
    "Transaction",
    "__version__",
]
