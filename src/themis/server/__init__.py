"""The ThemisDB-compatible node."""
