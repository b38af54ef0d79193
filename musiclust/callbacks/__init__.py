"""Lightning callbacks of the training loop: early stopping by phase, the divergence guard, learning curves."""

from musiclust.callbacks.divergence import DivergenceGuard
from musiclust.callbacks.epoch_metrics import EpochClusteringMetrics
from musiclust.callbacks.stopping import EarlyStoppingAfterWarmup

__all__ = ["DivergenceGuard", "EarlyStoppingAfterWarmup", "EpochClusteringMetrics"]
