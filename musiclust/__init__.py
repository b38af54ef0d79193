"""musiclust: Hydra-configured experiments for clustering music.

Importing it changes nothing in the process and loads nothing heavy. The Python API (:mod:`musiclust.api`) loads on
first use::

    import musiclust
    cfg = musiclust.compose(["model=pca", "k=4"])     # the config `musiclust model=pca k=4` runs
    result = musiclust.run(["model=pca", "k=4"])      # run it: result.metrics, result.run_dir, result.assignments
"""

from __future__ import annotations

from typing import Any

from musiclust._version import __version__

#: names served by musiclust.api, imported on first use
_API = ("compose", "Run")
__all__ = ["Run", "__version__", "compose", "run"]


def __getattr__(name: str) -> Any:
    if name in _API:
        from musiclust import api

        return getattr(api, name)
    if name == "run":  # the `musiclust` command's module, callable as musiclust.run([...]) (see musiclust/run.py)
        import importlib

        return importlib.import_module("musiclust.run")
    raise AttributeError(f"module 'musiclust' has no attribute {name!r}")
