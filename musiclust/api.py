"""The Python API, for notebooks and scripts: the ``musiclust`` command's configs and runs as Python calls.

    import musiclust
    cfg = musiclust.compose(["model=pca", "k=4"])        # the config `musiclust model=pca k=4` would run
    result = musiclust.run(["model=pca", "k=4"])         # run it (one job, in its own run dir)
    result.metrics["nmi"], result.run_dir, result.assignments.head()

Overrides are the command line's (``group=option``, ``key=value``, ``+key=value``); ``config_dir`` adds a folder of
your own config groups, like ``musiclust --config-dir DIR``. A run follows the command's rules: its run dir is
named as the command names it, a dir holding a finished run is refused unless ``overwrite=true`` or
``resume=true``, and its completion marker is written last. Errors are raised (:class:`musiclust.errors.
MusiclustError` for bad settings or data), never turned into exit codes.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from musiclust.columns import ID
from musiclust.config import CONFIG_DIR
from musiclust.errors import ConfigError
from musiclust.jobs import run_job
from musiclust.layout import LATENTS_FILE
from musiclust.outputs import RunResult

__all__ = ["Run", "compose", "run"]


@dataclass
class Run:
    """What :func:`run` returns: the run dir, its metrics and the cluster of every song.

    ``result`` is the in-memory :class:`~musiclust.outputs.RunResult` (model, embeddings ``z``, datamodule) of a run
    computed now; None when ``resume=true`` kept a finished run, whose ``assignments`` come from its ``latents.npz``.
    """

    run_dir: Path
    metrics: dict[str, Any]
    assignments: pd.DataFrame  # one row per song: id, cluster (-1 = noise)
    config: DictConfig
    result: RunResult | None = None


def _hydra_config(overrides: Sequence[str] | None, config_dir: str | Path | None) -> DictConfig:
    """The composed config with its ``hydra`` node, as the command composes it (``config_dir``: ``--config-dir``)."""
    overrides = [str(item) for item in overrides or []]
    if config_dir is not None:
        folder = Path(config_dir).expanduser().resolve()
        if not folder.is_dir():
            raise ConfigError(f"config_dir={config_dir}: no such folder. Pass the folder that holds your config "
                              "groups (e.g. my_configs/ with my_configs/dataset/my_songs.yaml).")
        overrides = [f"hydra.searchpath=[file://{folder}]", *overrides]
    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3", job_name="musiclust"):
            return hydra_compose(config_name="config", overrides=overrides, return_hydra_config=True)
    except HydraException as err:  # a misspelt key or option: Hydra's own message names it
        raise ConfigError(f"{err} (overrides: {' '.join(overrides) or 'none'})") from err


@contextmanager
def _as_hydra_job(config: DictConfig) -> Iterator[DictConfig]:
    """Set Hydra's job state as a ``musiclust`` run would (its ``${hydra:...}`` values, the run dir) and yield the
    job's config, with ``paths.output_dir`` fixed to that dir; Hydra's previous state is put back afterwards."""
    state = HydraConfig.instance()
    previous = state.cfg
    try:
        state.set_config(config)  # the run dir's name reads ${hydra:runtime.choices...}
        run_dir = Path(str(OmegaConf.select(config, "hydra.run.dir"))).resolve()
        with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
            config.hydra.runtime.output_dir = str(run_dir)
        state.set_config(config)
        job = copy.deepcopy(config)
        with read_write(job), open_dict(job):
            del job["hydra"]
            job.paths.output_dir = str(run_dir)  # fixed: it must not follow a later run's Hydra state
        yield job
    finally:
        state.cfg = previous


def compose(overrides: Sequence[str] | None = None, config_dir: str | Path | None = None) -> DictConfig:
    """The config ``musiclust <overrides>`` would run (``config_dir``: a folder of your own config groups, as
    ``--config-dir``), with ``paths.output_dir`` set to the run dir the command would create."""
    with _as_hydra_job(_hydra_config(overrides, config_dir)) as job:
        return job


@contextmanager
def _info_logging() -> Iterator[None]:
    """musiclust's INFO lines reach run.log as under the command, even where the root logger only shows warnings."""
    logger = logging.getLogger("musiclust")
    level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(level)


def _assignments(ids: Any, clusters: Any) -> pd.DataFrame:
    return pd.DataFrame({ID: np.asarray(ids).astype(str), "cluster": np.asarray(clusters).astype(int)})


def run(overrides: Sequence[str] | None = None, config_dir: str | Path | None = None) -> Run:
    """Run one experiment as ``musiclust <overrides>`` does and return its :class:`Run` (metrics, run dir, the
    cluster of every song). Sweeps (``-m``, ``a,b`` values) are the command's: this runs one job."""
    with _as_hydra_job(_hydra_config(overrides, config_dir)) as job, _info_logging():
        outcome = run_job(job)
    if outcome.result is not None:
        assignments = _assignments(outcome.result.ids, outcome.result.clusters)
    elif (outcome.run_dir / LATENTS_FILE).is_file():  # kept by resume=true: the finished run's stored clusters
        with np.load(outcome.run_dir / LATENTS_FILE) as latents:
            assignments = _assignments(latents["ids"], latents["clusters"])
    else:  # a kept run written without ~outputs.latents
        assignments = _assignments([], [])
    return Run(run_dir=outcome.run_dir, metrics=dict(outcome.metrics), assignments=assignments, config=job,
               result=outcome.result)
