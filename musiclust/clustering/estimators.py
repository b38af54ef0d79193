"""Small scikit-learn-style wrappers for clusterers whose defaults depend on the embedding's scale or size.

``conf/clusterer/*.yaml`` points at scikit-learn directly where its defaults work for any embedding
(k-means, agglomerative) and at these wrappers where they do not:

- :class:`DBSCAN` picks ``eps`` from the k-distance distribution when ``eps`` is null, because a fixed
  radius means something different for every model, latent size and feature (PCA components, VAE
  posterior means and 4000-dim raw features live on very different scales).
- :class:`SpectralClustering` checks ``n_neighbors`` against the number of songs and says which key to
  change instead of failing inside the nearest-neighbour graph.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn import cluster
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_array

from musiclust.errors import ConfigError

log = logging.getLogger(__name__)


def k_distances(x: np.ndarray, k: int, metric: str = "euclidean") -> np.ndarray:
    """Distance of every point to its ``k``-th nearest other point (the curve used to choose DBSCAN's eps)."""
    x = check_array(x)
    k = int(min(k, len(x) - 1))
    if k < 1:
        return np.zeros(len(x))
    # k + 1 neighbours: each point is its own nearest neighbour at distance 0
    distances, _ = NearestNeighbors(n_neighbors=k + 1, metric=metric).fit(x).kneighbors(x)
    return distances[:, k]


class DBSCAN(ClusterMixin, BaseEstimator):
    """scikit-learn's DBSCAN; with ``eps=None`` the radius is the ``eps_quantile`` quantile of the
    distances from each song to its ``min_samples - 1``-th nearest neighbour.

    So ``eps_quantile`` is about the share of songs that become core points, whatever the scale of the
    embedding: higher → larger, fewer clusters and less noise. Noise is labelled −1 (shown as "noise") and
    scored as one more cluster by every metric (see :mod:`musiclust.clustering.metrics`). The radius used is ``eps_``.
    """

    def __init__(
        self, eps: float | None = None, eps_quantile: float = 0.5, min_samples: int = 5,
        metric: str = "euclidean", n_jobs: int | None = None,
    ) -> None:
        self.eps = eps
        self.eps_quantile = eps_quantile
        self.min_samples = min_samples
        self.metric = metric
        self.n_jobs = n_jobs
        self.check_params()  # here too, so a bad setting stops the run before features and training

    def check_params(self) -> None:
        if self.eps is not None and float(self.eps) <= 0:
            raise ConfigError(f"clusterer.eps={self.eps}: must be positive, or null to choose it from the data.")
        if not 0.0 < float(self.eps_quantile) <= 1.0:
            raise ConfigError(
                f"clusterer.eps_quantile={self.eps_quantile}: must be in (0, 1]. "
                "It is the share of songs dense enough to be core points, e.g. 0.5."
            )
        if int(self.min_samples) < 1:
            raise ConfigError(f"clusterer.min_samples={self.min_samples}: must be at least 1.")

    def choose_eps(self, x: np.ndarray) -> float:
        distances = k_distances(x, int(self.min_samples) - 1, self.metric)
        eps = float(np.quantile(distances, float(self.eps_quantile)))
        # identical embeddings give eps 0, which DBSCAN rejects; any positive radius then joins them
        return eps if eps > 0 else float(np.finfo(np.float32).eps)

    def fit(self, x: np.ndarray, y: object = None) -> DBSCAN:
        x = check_array(x)
        self.check_params()
        self.eps_ = float(self.eps) if self.eps is not None else self.choose_eps(x)
        fitted = cluster.DBSCAN(eps=self.eps_, min_samples=int(self.min_samples), metric=self.metric,
                                n_jobs=self.n_jobs).fit(x)
        self.labels_ = fitted.labels_
        self.core_sample_indices_ = fitted.core_sample_indices_
        n_found = len(set(self.labels_.tolist()) - {-1})
        log.info("DBSCAN: eps=%.4g (%s), %d clusters, %d noise songs of %d", self.eps_,
                 "given" if self.eps is not None else f"quantile {self.eps_quantile} of k-distances",
                 n_found, int((self.labels_ == -1).sum()), len(x))
        return self


class SpectralClustering(cluster.SpectralClustering):
    """scikit-learn's SpectralClustering, with ``n_neighbors`` checked against the number of songs."""

    def fit(self, x: np.ndarray, y: object = None) -> SpectralClustering:
        n_samples = len(x)
        if self.affinity == "nearest_neighbors" and int(self.n_neighbors) >= n_samples:
            raise ConfigError(
                f"clusterer.n_neighbors={self.n_neighbors} needs more songs than the {n_samples} given. "
                f"Set clusterer.n_neighbors below {n_samples} (e.g. {max(2, min(10, n_samples // 3))})."
            )
        return super().fit(x, y)


class ModelClusters(ClusterMixin, BaseEstimator):
    """The model's own cluster assignments as a clusterer (``clusterer=model``), e.g. VaDE's mixture components.

    The pipeline hands it the model with :func:`bind_model` before training; ``fit_predict(z)`` then asks the
    trained model's ``predict_clusters(z)``.
    """

    def __init__(self, n_clusters: int | None = None, model: Any = None) -> None:
        self.n_clusters = n_clusters
        self.model = model

    def fit(self, z: np.ndarray, y: Any = None) -> ModelClusters:
        if self.model is None:
            raise ConfigError("clusterer=model has no model to ask for clusters; the pipeline binds it "
                              "(musiclust.clustering.estimators.bind_model) before training.")
        self.labels_ = np.asarray(self.model.predict_clusters(np.asarray(z)), dtype=np.int64)
        return self

    def fit_predict(self, z: np.ndarray, y: Any = None, **_: Any) -> np.ndarray:
        return self.fit(z).labels_


def bind_model(estimator: Any, model: Any, reduced: bool = False) -> None:
    """Give a model-assignment clusterer its model; fail before training when the combination cannot work."""
    if not isinstance(estimator, ModelClusters):
        return
    name = type(model).__name__
    if not callable(getattr(model, "predict_clusters", None)):
        raise ConfigError(
            f"clusterer=model uses the model's own cluster assignments, but the model ({name}) has none. "
            "Use a model that assigns clusters (model=vade) or a clusterer such as clusterer=kmeans."
        )
    if reduced:
        raise ConfigError(
            f"clusterer=model takes the clusters of {name} in its own latent space, so it cannot cluster a "
            "reduced space. Use reducer=none, or a clusterer such as clusterer=gmm on the reduced space."
        )
    components = getattr(model, "n_components", None)
    if estimator.n_clusters is not None and components is not None and int(components) != int(estimator.n_clusters):
        raise ConfigError(
            f"k={estimator.n_clusters} but the model has {components} mixture components (model.n_components). "
            "Leave model.n_components at ${{k}} or set both to the same number."
        )
    estimator.set_params(model=model)
