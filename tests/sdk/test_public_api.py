from __future__ import annotations

import httpx

import themis


def test_all_is_sorted_and_exact() -> None:
    assert themis.__all__ == sorted(themis.__all__)
    assert set(themis.__all__) == {
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
    }
    for name in themis.__all__:
        assert hasattr(themis, name)


def test_error_hierarchy() -> None:
    assert issubclass(themis.TopologyError, themis.ThemisError)
    assert issubclass(themis.ThemisHTTPError, httpx.HTTPStatusError)
    assert issubclass(themis.ThemisHTTPError, themis.ThemisError)
    assert issubclass(themis.QueryError, themis.BadRequestError)
    for cls in (themis.NotFoundError, themis.ConflictError, themis.BadRequestError):
        assert issubclass(cls, themis.ThemisHTTPError)


def test_version_is_a_string() -> None:
    assert isinstance(themis.__version__, str)
