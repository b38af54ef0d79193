"""Learning curves of the clustering itself: NMI / ARI / silhouette of the current embeddings every N epochs."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytorch_lightning as pl
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from musiclust.clustering import NOISE
from musiclust.errors import ConfigError

log = logging.getLogger(__name__)


class EpochClusteringMetrics(pl.Callback):
    """Every ``every_n_epochs`` training epochs: embed all songs, cluster them with the run's clusterer and log
    ``cluster/nmi``, ``cluster/ari`` (with a ``label_col``), ``cluster/silhouette`` and ``cluster/n_clusters``
    to the Lightning loggers (one row per evaluated epoch in ``logs/metrics.csv``).

    ``every_n_epochs: 0`` turns it off. It clusters the model's embeddings without the ``reducer`` (a UMAP fit
    per evaluation would dominate training time) and, above ``max_songs``, a fixed-seed sample of songs.
    Models fitted in closed form (PCA, raw) train no epochs, so they log nothing here.
    """

    def __init__(self, clusterer: Any = None, every_n_epochs: int = 10, max_songs: int = 5000,
                 silhouette_sample_size: int | None = 10000, seed: int = 0) -> None:
        if int(every_n_epochs) < 0:
            raise ConfigError(f"callbacks.epoch_metrics.every_n_epochs={every_n_epochs}: use 0 (off) or more.")
        self.clusterer_config = clusterer
        self.every_n_epochs, self.max_songs = int(every_n_epochs), int(max_songs)
        self.silhouette_sample_size, self.seed = silhouette_sample_size, int(seed)

    def _clusterer(self, pl_module: pl.LightningModule) -> Any:
        from musiclust.clustering.estimators import bind_model
        from musiclust.instantiate import build

        if self.clusterer_config is None:
            raise ConfigError("callbacks.epoch_metrics needs a clusterer (default: ${clusterer}, the run's).")
        estimator = build(self.clusterer_config) if not hasattr(self.clusterer_config, "fit_predict") \
            else clone(self.clusterer_config)
        bind_model(estimator, pl_module)
        return estimator

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        last = epoch == trainer.max_epochs or trainer.should_stop
        if self.every_n_epochs == 0 or not hasattr(trainer, "datamodule") or trainer.datamodule is None:
            return
        if epoch % self.every_n_epochs and not last:
            return
        self.log_epoch(trainer, pl_module)

    def log_epoch(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, float]:
        from musiclust.clustering import fit_predict
        from musiclust.clustering.metrics import internal_metrics, labelled_metrics

        datamodule = trainer.datamodule
        index = np.arange(datamodule.n_songs)
        if len(index) > self.max_songs:  # bounded cost per evaluation on large sets
            index = np.sort(np.random.default_rng(self.seed).choice(index, self.max_songs, replace=False))
        z = datamodule.embed_songs(pl_module, index)
        try:
            clusters = fit_predict(self._clusterer(pl_module), z)
        except NotFittedError as err:  # e.g. VaDE's own clusters before its mixture exists
            log.debug("epoch %d: no clusters yet (%s)", trainer.current_epoch, err)
            return {}
        values = {"n_clusters": float(len(set(clusters.tolist()) - {NOISE})),
                  "silhouette": internal_metrics(z, clusters, self.silhouette_sample_size, self.seed)["silhouette"]}
        labels = getattr(datamodule, "labels", None)
        if labels is not None:
            external = labelled_metrics(labels[index], clusters, n_permutations=0)  # no baseline per epoch
            values.update({name: external[name] for name in ("nmi", "ari", "acc") if name in external})
        values = {f"cluster/{name}": float(value) for name, value in values.items()}
        for logger in trainer.loggers:
            logger.log_metrics({**values, "epoch": float(trainer.current_epoch)}, step=trainer.global_step)
        return values
