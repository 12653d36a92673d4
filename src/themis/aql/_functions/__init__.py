"""The registry of AQL built-in functions."""

from __future__ import annotations

from themis.aql._functions._registry import Function, lookup

__all__ = ["Function", "lookup"]
