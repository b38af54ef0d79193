"""The version of musiclust, in one place (the package metadata reads it too: pyproject.toml)."""

__version__ = "0.1.0"
