"""What a finished experiment hands to the output steps: everything a file or a plot of the run is made from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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
    datamodule: Any = None  # musiclust.training.MusicDataModule: the normalised rows and the normaliser
    model: Any = None
    loggers: list[Any] = field(default_factory=list)  # the Trainer's loggers, which get the final metrics
    step: int = 0  # the Trainer's global step when training ended
    plot_columns: list[str] = field(default_factory=list)
    clustering: Any = None  # musiclust.clustering.plan.ClusteringPlan: the fitted reducer and clusterer
    z_reduced: np.ndarray | None = None  # the reducer's space, where the songs were clustered (None: z itself)
    debug: bool = False  # a trial run (trainer.fast_dev_run): comparisons leave it out unless asked

    def cluster_names(self) -> np.ndarray:
        """Cluster ids as display strings, DBSCAN noise shown as "noise"."""
        return cluster_names(self.clusters)


def cluster_names(clusters: np.ndarray) -> np.ndarray:
    """Cluster ids as display strings: ``c0``, ``c1``, …, noise (−1) as "noise"."""
    return np.array(["noise" if c == NOISE else f"c{c}" for c in clusters])


class OutputStep:
    """One output of a run (a file or a set of plots), written from the :class:`RunResult`; the steps of a run
    are the entries of its ``outputs`` config group, run in order by :func:`musiclust.outputs.write_outputs`."""

    def write(self, result: RunResult) -> None:
        raise NotImplementedError
