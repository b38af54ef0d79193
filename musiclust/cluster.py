"""Clustering: scikit-learn estimators built from ``conf/clusterer`` via ``_target_``."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from musiclust.errors import ConfigError

NOISE = -1


def requested_clusters(estimator) -> int | None:
    """The number of clusters an estimator was asked for (None for density-based ones)."""
    params = estimator.get_params()
    return params.get("n_clusters", params.get("n_components"))


def check_k(k: int | None, n_samples: int, clusterer: str) -> None:
    """Fail fast, before training, when k cannot work for this many songs."""
    if k is None:
        return
    if int(k) < 2:
        raise ConfigError(f"k={k}: clustering needs at least 2 clusters. Set k=2 or more.")
    if int(k) > n_samples:
        raise ConfigError(
            f"k={k} is larger than the number of songs ({n_samples}) for clusterer={clusterer}. "
            f"Set k to at most {n_samples} (e.g. k={min(n_samples, 6)})."
        )


def fit_predict(estimator, z: np.ndarray) -> np.ndarray:
    """Cluster the embeddings; DBSCAN-style noise stays −1."""
    z = np.asarray(z, dtype=np.float64)
    if not np.all(np.isfinite(z)):
        bad = int((~np.isfinite(z)).any(axis=1).sum())
        raise ConfigError(
            f"{bad} embeddings contain NaN/inf, so they cannot be clustered. The model diverged: "
            "lower model.lr, or check the features for NaNs."
        )
    return np.asarray(estimator.fit_predict(z), dtype=np.int64)


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
                              "(musiclust.cluster.bind_model) before training.")
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
