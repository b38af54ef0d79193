"""``musiclust``: the Hydra entry point. Composes the config, runs one job (:mod:`musiclust.jobs`), returns the
objective to the sweeper.

The module is also callable, for notebooks: ``musiclust.run(["model=pca", "k=4"])`` is :func:`musiclust.api.run`.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any

import hydra
from omegaconf import DictConfig

from musiclust._version import __version__
from musiclust.config import CONFIG_DIR

__all__ = ["CONFIG_DIR", "main"]


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def _main(cfg: DictConfig) -> float:
    from musiclust.jobs import run_and_report

    return run_and_report(cfg)


def main() -> None:
    """The ``musiclust`` command."""
    if "--version" in sys.argv[1:]:  # musiclust's version (Hydra's own --version would print Hydra's)
        print(f"musiclust {__version__}")
        return
    # OpenMP threads (torch, scikit-learn) that spin while they wait make runs several times slower when cores are
    # shared (parallel sweep jobs, a busy machine); the runtime reads this once when it loads, so before any import
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _main()


class _CallableModule(types.ModuleType):
    """``import musiclust; musiclust.run([...])``: the package attribute ``run`` is this module once it is
    imported, so the module itself runs an experiment when called."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from musiclust.api import run

        return run(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    main()
