"""Small scikit-learn estimators for clusterers whose defaults depend on the embedding's scale or size.

``conf/clusterer/*.yaml`` points at scikit-learn directly where its defaults work for any embedding
(k-means, agglomerative) and at these wrappers where they do not:

- :class:`DBSCAN` picks ``eps`` from the k-distance distribution when ``eps`` is null, because a fixed
  radius means something different for every model, latent size and feature (PCA components, VAE
  posterior means and 4000-dim raw features live on very different scales).
- :class:`SpectralClustering` checks ``n_neighbors`` against the number of songs and says which key to
  change instead of failing inside the nearest-neighbour graph.

They follow scikit-learn's estimator contract: ``__init__`` only stores parameters, ``fit`` validates the data
and the parameters (a :class:`~musiclust.errors.ConfigError`, a ``ValueError``, naming the config key).
A parameter that must be bounded by the data (DBSCAN's ``min_samples`` by the number of songs) is never
clamped silently: :func:`bounded` logs a warning with the value asked for and the value used, and the fitted
``used_params_`` holds what was used, as ``clustering_metrics.csv`` columns (``clusterer_min_samples``...).
"""

from __future__ import annotations

import logging
import numbers
from typing import Any

import numpy as np
from sklearn import cluster
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_array, validate_data

from musiclust.errors import ConfigError

log = logging.getLogger(__name__)


def check_integer(key: str, value: object, minimum: int, hint: str = "") -> int:
    """``value`` as an int when it is an integer ≥ ``minimum``, else a :class:`ConfigError` naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"{key}={value!r}: must be an integer ≥ {minimum}.{hint}")
    return int(value)


def bounded(key: str, asked: int, limit: int, why: str) -> int:
    """``asked``, or ``limit`` when ``asked`` is above it, with a warning that names ``key``, both values and ``why``
    (the reason for the limit, e.g. "there are 36 songs").

    The caller records the returned value in its fitted ``used_params_``, so the run's metrics show what was used.
    """
    if asked <= limit:
        return asked
    log.warning("%s=%d but %s: using %d (recorded in used_params_ and the run's clustering_metrics.csv). "
                "Set %s to at most %d to silence this.", key, asked, why, limit, key, limit)
    return limit


def k_distances(x: np.ndarray, k: int, metric: str = "euclidean") -> np.ndarray:
    """Distance of every point to its ``k``-th nearest other point (the curve used to choose DBSCAN's eps)."""
    x = check_array(x)
    if k >= len(x):
        raise ValueError(f"k={k}: the {len(x)} points have only {len(x) - 1} other points each.")
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
    scored as one more cluster by every metric (see :mod:`musiclust.clustering.metrics`). The radius used is
    ``eps_``; ``min_samples`` above the number of songs is bounded by it (with a warning), used: ``min_samples_``.
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

    def _check_parameters(self) -> int:
        """The parameters' problems as one ConfigError each (before any work); returns ``min_samples``."""
        if self.eps is not None and (not isinstance(self.eps, numbers.Real) or not self.eps > 0):
            raise ConfigError(f"clusterer.eps={self.eps!r}: must be positive, or null to choose it from the data.")
        if not isinstance(self.eps_quantile, numbers.Real) or not 0.0 < self.eps_quantile <= 1.0:
            raise ConfigError(
                f"clusterer.eps_quantile={self.eps_quantile!r}: must be in (0, 1]. "
                "It is the share of songs dense enough to be core points, e.g. 0.5."
            )
        return check_integer("clusterer.min_samples", self.min_samples, 1)

    def choose_eps(self, x: np.ndarray, min_samples: int) -> float:
        """The ``eps_quantile`` quantile of each song's distance to its ``min_samples - 1``-th nearest neighbour."""
        distances = k_distances(x, min_samples - 1, self.metric)
        eps = float(np.quantile(distances, float(self.eps_quantile)))
        if eps > 0:
            return eps
        # identical embeddings give eps 0, which DBSCAN rejects; any positive radius then joins them
        log.warning("DBSCAN: the %s quantile of the k-distances is 0 (duplicate embeddings); using eps=%g",
                    self.eps_quantile, np.finfo(np.float32).eps)
        return float(np.finfo(np.float32).eps)

    def fit(self, x: np.ndarray, y: object = None) -> DBSCAN:
        x = validate_data(self, x)
        min_samples = self._check_parameters()
        n_songs = len(x)
        self.min_samples_ = bounded("clusterer.min_samples", min_samples, n_songs, f"there are {n_songs} songs")
        self.eps_ = float(self.eps) if self.eps is not None else self.choose_eps(x, self.min_samples_)
        fitted = cluster.DBSCAN(eps=self.eps_, min_samples=self.min_samples_, metric=self.metric,
                                n_jobs=self.n_jobs).fit(x)
        self.labels_ = fitted.labels_
        self.core_sample_indices_ = fitted.core_sample_indices_
        self.used_params_ = {"clusterer_eps": self.eps_, "clusterer_min_samples": self.min_samples_}
        n_found = len(set(self.labels_.tolist()) - {-1})
        log.info("DBSCAN: eps=%.4g (%s), %d clusters, %d noise songs of %d", self.eps_,
                 "given" if self.eps is not None else f"quantile {self.eps_quantile} of k-distances",
                 n_found, int((self.labels_ == -1).sum()), n_songs)
        return self


class SpectralClustering(cluster.SpectralClustering):
    """scikit-learn's SpectralClustering, with ``n_neighbors`` checked against the number of songs."""

    def fit(self, x: np.ndarray, y: object = None) -> SpectralClustering:
        # the same validation as scikit-learn's fit, first, so that the number of songs is known
        x = check_array(x, accept_sparse=["csr", "csc", "coo"], dtype=np.float64, ensure_min_samples=2,
                        estimator=self)
        n_samples = x.shape[0]
        # other types and ranges are scikit-learn's to reject (its parameter constraints, in super().fit)
        if (self.affinity == "nearest_neighbors" and isinstance(self.n_neighbors, numbers.Integral)
                and self.n_neighbors >= n_samples):
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
        z = validate_data(self, z)
        self.labels_ = np.asarray(self.model.predict_clusters(z), dtype=np.int64)
        return self

    def predict(self, z: np.ndarray) -> np.ndarray:
        """The model's clusters of new embeddings (what ``musiclust-predict`` asks a run's VaDE)."""
        if self.model is None:
            raise ConfigError("clusterer=model has no model to ask for clusters; bind it with bind_model first.")
        return np.asarray(self.model.predict_clusters(np.asarray(z)), dtype=np.int64)

    def predict_proba(self, z: np.ndarray) -> np.ndarray | None:
        """p(cluster | z) from the model, or None when the model gives no probabilities."""
        proba = getattr(self.model, "predict_proba", None)
        return np.asarray(proba(np.asarray(z))) if callable(proba) else None


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
