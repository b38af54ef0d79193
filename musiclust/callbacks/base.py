"""What the pipeline hands to result callbacks once clustering and evaluation are done."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytorch_lightning as pl

from musiclust.clustering import NOISE


@dataclass
class RunResult:
    run_dir: Path
    settings: dict[str, Any]
    ids: np.ndarray
    z: np.ndarray
    clusters: np.ndarray
    manifest: pd.DataFrame  # rows aligned with ``ids``
    metrics: dict[str, Any]
    mean: np.ndarray
    std: np.ndarray
    datamodule: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def run_name(self) -> str:
        return f"{self.settings.get('feature', 'feature')}_{self.settings.get('model', 'model')}"

    def cluster_names(self) -> np.ndarray:
        """Cluster ids as display strings, DBSCAN noise shown as "noise"."""
        return np.array(["noise" if c == NOISE else f"c{c}" for c in self.clusters])


class ResultCallback(pl.Callback):
    """A Lightning callback that also receives the final :class:`RunResult` (one output each)."""

    def on_result(self, trainer: pl.Trainer, pl_module: pl.LightningModule, result: RunResult) -> None:
        raise NotImplementedError
