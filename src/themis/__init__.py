"""Python SDK for ThemisDB."""

from themis._version import __version__

__all__ = ["__version__"]
