"""Function descriptors, the registration decorator and name lookup."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from themis.aql.errors import AqlExecutionError

_MODULES = (
    "strings",
    "numbers",
    "arrays",
    "documents",
    "types",
    "dates",
    "vectors",
    "partials",
)
_REGISTRY: dict[str, Function] = {}
_LOADED: list[bool] = []


@dataclass(frozen=True, slots=True)
class Function:
    """A built-in function.

    Attributes:
        name: Upper-case AQL name.
        impl: The implementation, called with evaluated arguments.
        min_args: Fewest arguments accepted.
        max_args: Most arguments accepted, None for unlimited.
        needs_source: Whether `impl` takes the data source as first argument.
    """

    name: str
    impl: Callable[..., Any]
    min_args: int
    max_args: int | None
    needs_source: bool = False

    def check_arity(self, count: int) -> None:
        """Raise AqlExecutionError when `count` arguments are not accepted."""
        if count >= self.min_args and (self.max_args is None or count <= self.max_args):
            return
        if self.max_args == self.min_args:
            expected = str(self.min_args)
        elif self.max_args is None:
            expected = f"at least {self.min_args}"
        else:
            expected = f"{self.min_args} to {self.max_args}"
        raise AqlExecutionError(
            f"invalid number of arguments for function '{self.name}()': "
            f"expected {expected}, got {count}"
        )


def register(
    *names: str, min_args: int = 1, max_args: int | None = 1, source: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated implementation under every name in `names`."""

    def decorate(impl: Callable[..., Any]) -> Callable[..., Any]:
        for name in names:
            _REGISTRY[name] = Function(name, impl, min_args, max_args, source)
        return impl

    return decorate


def lookup(name: str) -> Function:
    """Return the function called `name` (any case).

    Raises:
        AqlExecutionError: No such function exists.
    """
    if not _LOADED:
        for module in _MODULES:
            importlib.import_module(f"themis.aql._functions.{module}")
        _LOADED.append(True)
    try:
        return _REGISTRY[name.upper()]
    except KeyError:
        raise AqlExecutionError(f"unknown function '{name.upper()}()'") from None
