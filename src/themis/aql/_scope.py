"""Compile-time variable scopes: names mapped to positions in the frame tuple."""

from __future__ import annotations

from themis.aql.errors import AqlExecutionError

CURRENT = "$current"


class Scope:
    """The variables visible at one point of a query and their frame slots.

    A frame is a tuple holding one value per visible slot, so `size` is also the
    length every frame has at this point of the pipeline.

    Args:
        names: Variable name to slot.
        size: Number of slots.
        base: Slots below `base` belong to enclosing queries; COLLECT keeps them.
    """

    def __init__(self, names: dict[str, int] | None = None, size: int = 0) -> None:
        self.names = dict(names or {})
        self.size = size
        self.base = size

    def child(self) -> Scope:
        """Return a scope for a subquery that sees every current variable."""
        return Scope(self.names, self.size)

    def declare(self, name: str) -> int:
        """Add variable `name` in the next slot and return that slot.

        Raises:
            AqlExecutionError: `name` is already declared.
        """
        if name in self.names and name != CURRENT:
            raise AqlExecutionError(f"variable '{name}' is assigned multiple times")
        slot = self.size
        self.names[name] = slot
        self.size += 1
        return slot

    def with_current(self) -> tuple[Scope, int]:
        """Return a copy with the hidden expansion element in a new slot."""
        scope = Scope(self.names, self.size)
        scope.base = self.base
        return scope, scope.declare(CURRENT)

    def lookup(self, name: str) -> int | None:
        """Return the slot of `name`, or None when it is not declared."""
        return self.names.get(name)

    def user_names(self) -> list[tuple[str, int]]:
        """Return this query level's user variables in declaration order."""
        found = [
            (n, s) for n, s in self.names.items() if n != CURRENT and s >= self.base
        ]
        return sorted(found, key=lambda pair: pair[1])

    def collected(self, names: list[str]) -> Scope:
        """Return the scope after a COLLECT that declares `names`.

        Variables of enclosing queries stay visible; this level's do not.
        """
        kept = {n: s for n, s in self.names.items() if s < self.base and n != CURRENT}
        scope = Scope(kept, self.base)
        for name in names:
            scope.declare(name)
        scope.base = self.base
        return scope
