"""Output steps that write numbers: ``clustering_metrics.csv`` and ``latents.npz``."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from musiclust.io import save_npz, write_csv
from musiclust.layout import LATENTS_FILE, METRICS_FILE
from musiclust.outputs.result import OutputStep, RunResult

log = logging.getLogger(__name__)


class MetricsWriter(OutputStep):
    """One row: run settings + every metric, written atomically to ``clustering_metrics.csv``; ``debug`` marks
    a trial run (``trainer.fast_dev_run``), which comparisons leave out unless asked. The numbers also go to
    the run's loggers as ``final/<metric>``."""

    def write(self, result: RunResult) -> None:
        row = {**result.settings, **result.metrics, "debug": bool(result.debug), "run_dir": str(result.run_dir)}
        write_csv(pd.DataFrame([row]), result.run_dir / METRICS_FILE)
        numbers = {f"final/{k}": float(v) for k, v in result.metrics.items()
                   if isinstance(v, int | float | np.number) and not isinstance(v, bool) and np.isfinite(v)}
        for logger in result.loggers:
            logger.log_metrics(numbers, step=result.step)
            logger.save()


class LatentWriter(OutputStep):
    """``latents.npz``: ``z``, ``ids``, ``clusters`` and the input normalisation's ``mean``/``std``."""

    def write(self, result: RunResult) -> None:
        normalizer = result.datamodule.normalizer
        save_npz(
            result.run_dir / LATENTS_FILE,
            z=np.asarray(result.z, dtype=np.float32),
            ids=np.asarray(result.ids).astype(str),
            clusters=np.asarray(result.clusters),
            mean=np.asarray(normalizer.mean_, dtype=np.float32),
            std=np.asarray(normalizer.scale_, dtype=np.float32),
        )
