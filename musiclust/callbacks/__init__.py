"""Lightning callbacks; each writes one kind of output into the run dir."""

from musiclust.callbacks.base import ResultCallback, RunResult
from musiclust.callbacks.epoch_metrics import EpochClusteringMetrics
from musiclust.callbacks.plots import DistributionPlotter, ProjectionPlotter, ReconstructionPlotter
from musiclust.callbacks.writers import LATENTS_FILE, METRICS_FILE, LatentWriter, MetricsWriter

__all__ = [
    "LATENTS_FILE", "METRICS_FILE", "DistributionPlotter", "EpochClusteringMetrics", "LatentWriter",
    "MetricsWriter", "ProjectionPlotter", "ReconstructionPlotter", "ResultCallback", "RunResult",
]
