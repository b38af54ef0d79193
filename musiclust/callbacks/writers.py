"""Callbacks that write numbers: ``clustering_metrics.csv`` and ``latents.npz``."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytorch_lightning as pl

from musiclust.callbacks.base import ResultCallback, RunResult
from musiclust.io import save_npz, write_csv
from musiclust.layout import LATENTS_FILE, METRICS_FILE

log = logging.getLogger(__name__)


class MetricsWriter(ResultCallback):
    """One row: run settings + every metric, written atomically to ``clustering_metrics.csv``; ``debug`` marks
    a trial run (``trainer.fast_dev_run``), which comparisons leave out unless asked."""

    def on_result(self, trainer: pl.Trainer, pl_module: pl.LightningModule, result: RunResult) -> None:
        row = {**result.settings, **result.metrics, "debug": bool(trainer.fast_dev_run), "run_dir": str(result.run_dir)}
        write_csv(pd.DataFrame([row]), result.run_dir / METRICS_FILE)
        for logger in trainer.loggers:
            numbers = {f"final/{k}": float(v) for k, v in result.metrics.items()
                       if isinstance(v, int | float | np.number) and np.isfinite(v)}
            logger.log_metrics(numbers, step=trainer.global_step)
            logger.save()


class LatentWriter(ResultCallback):
    """``latents.npz``: ``z``, ``ids``, ``clusters`` and the input standardisation ``mean``/``std``."""

    def on_result(self, trainer: pl.Trainer, pl_module: pl.LightningModule, result: RunResult) -> None:
        save_npz(
            result.run_dir / LATENTS_FILE,
            z=np.asarray(result.z, dtype=np.float32),
            ids=np.asarray(result.ids).astype(str),
            clusters=np.asarray(result.clusters),
            mean=np.asarray(result.mean, dtype=np.float32),
            std=np.asarray(result.std, dtype=np.float32),
        )
