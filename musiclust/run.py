"""``musiclust``: the Hydra entry point. Composes the config, runs one job (:mod:`musiclust.jobs`), returns the
objective to the sweeper."""

from __future__ import annotations

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

CONFIG_DIR = str(Path(__file__).resolve().parent / "conf")  # package data, so a wheel has it too


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def _main(cfg: DictConfig) -> float:
    from musiclust.jobs import run_and_report

    return run_and_report(cfg)


def main() -> None:
    """The ``musiclust`` command."""
    # OpenMP threads (torch, scikit-learn) that spin while they wait make runs several times slower when cores are
    # shared (parallel sweep jobs, a busy machine); the runtime reads this once when it loads, so before any import
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _main()


if __name__ == "__main__":
    main()
