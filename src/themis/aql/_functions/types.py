"""Type checks and type casts."""

from __future__ import annotations

from typing import Any

from themis.aql._functions._registry import register
from themis.aql._values import to_array, to_bool, to_number, to_string, typename


def _check(name: str, kinds: tuple[type, ...]) -> None:
    def check(value: Any) -> bool:
        return type(value) in kinds

    register(name)(check)


_check("IS_NULL", (type(None),))
_check("IS_BOOL", (bool,))
_check("IS_NUMBER", (int, float))
_check("IS_STRING", (str,))
_check("IS_ARRAY", (list,))
_check("IS_LIST", (list,))
_check("IS_OBJECT", (dict,))
_check("IS_DOCUMENT", (dict,))
register("TYPENAME")(typename)
register("TO_NUMBER")(to_number)
register("TO_STRING")(to_string)
register("TO_BOOL")(to_bool)
register("TO_ARRAY", "TO_LIST")(to_array)


@register("NOT_NULL", "COALESCE", min_args=1, max_args=None)
def _not_null(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


@register("FIRST_DOCUMENT", min_args=1, max_args=None)
def _first_document(*values: Any) -> Any:
    return next((v for v in values if isinstance(v, dict)), None)
