"""Object (document) functions, including DOCUMENT() lookups."""

from __future__ import annotations

from typing import Any

from themis.aql._functions._registry import register
from themis.aql._values import to_string
from themis.aql.errors import AqlExecutionError
from themis.aql.source import DataSource


def _names(values: tuple[Any, ...]) -> set[str]:
    names: set[str] = set()
    for value in values:
        items = value if isinstance(value, list) else [value]
        names.update(to_string(item) for item in items)
    return names


def _object(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AqlExecutionError(
            f"function '{name}()' expects an object, got {to_string(value)!r}"
        )
    return value


@register("KEYS", "ATTRIBUTES", min_args=1, max_args=3)
def _keys(doc: Any, remove_internal: Any = False, sort: Any = False) -> list[str]:
    names = list(_object("ATTRIBUTES", doc))
    if remove_internal:
        names = [n for n in names if not n.startswith("_")]
    return sorted(names) if sort else names


@register("VALUES", min_args=1, max_args=2)
def _values(doc: Any, remove_internal: Any = False) -> list[Any]:
    items = _object("VALUES", doc).items()
    return [v for k, v in items if not (remove_internal and k.startswith("_"))]


@register("HAS", min_args=2, max_args=2)
def _has(doc: Any, name: Any) -> bool:
    return isinstance(doc, dict) and to_string(name) in doc


@register("MERGE", min_args=1, max_args=None)
def _merge(*docs: Any) -> dict[str, Any]:
    if len(docs) == 1 and isinstance(docs[0], list):
        docs = tuple(docs[0])
    result: dict[str, Any] = {}
    for doc in docs:
        result.update(_object("MERGE", doc))
    return result


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in extra.items():
        current = result.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            result[key] = _deep_merge(current, value)
        else:
            result[key] = value
    return result


@register("MERGE_RECURSIVE", min_args=1, max_args=None)
def _merge_recursive(*docs: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for doc in docs:
        result = _deep_merge(result, _object("MERGE_RECURSIVE", doc))
    return result


@register("UNSET", min_args=1, max_args=None)
def _unset(doc: Any, *names: Any) -> dict[str, Any]:
    removed = _names(names)
    return {k: v for k, v in _object("UNSET", doc).items() if k not in removed}


@register("KEEP", min_args=1, max_args=None)
def _keep(doc: Any, *names: Any) -> dict[str, Any]:
    kept = _names(names)
    return {k: v for k, v in _object("KEEP", doc).items() if k in kept}


@register("ZIP", min_args=2, max_args=2)
def _zip(keys: Any, values: Any) -> dict[str, Any]:
    if not isinstance(keys, list) or not isinstance(values, list):
        raise AqlExecutionError("function 'ZIP()' expects two arrays")
    if len(keys) != len(values):
        raise AqlExecutionError("function 'ZIP()' expects arrays of equal length")
    return {to_string(k): v for k, v in zip(keys, values, strict=True)}


@register("DOCUMENT", min_args=1, max_args=2, source=True)
def _document(source: DataSource, first: Any, second: Any = None) -> Any:
    if second is not None:
        collection = to_string(first)
        keys = second if isinstance(second, list) else [second]
        ids = [k if ":" in to_string(k) else f"{collection}:{k}" for k in keys]
        found = source.documents([to_string(i) for i in ids])
        if isinstance(second, list):
            return [doc for doc in found if doc is not None]
        return found[0]
    if isinstance(first, list):
        docs = source.documents([to_string(i) for i in first])
        return [doc for doc in docs if doc is not None]
    if isinstance(first, dict):
        first = first.get("_id")
    if not isinstance(first, str):
        return None
    return source.document(first)
