"""Clustering: scikit-learn estimators built from ``conf/clusterer`` via ``_target_``, adapted to large N by
:func:`scalable_clusterer` (``large_n`` settings)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from musiclust.errors import ConfigError

log = logging.getLogger(__name__)

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


# -- large N ------------------------------------------------------------------------------------------
#: k-means switches to MiniBatchKMeans above this many songs (``large_n.minibatch_above``)
MINIBATCH_ABOVE = 20_000
#: clusterers that hold all pairwise distances/affinities (O(N²) memory) refuse more songs than this
#: (``large_n.pairwise_limit``): 10,000 songs ≈ 0.4 GB of condensed float64 distances
PAIRWISE_LIMIT = 10_000
#: songs per MiniBatchKMeans step: large batches give centres close to full k-means
MINIBATCH_SIZE = 4096


def _pairwise_clusterers() -> tuple[type, ...]:
    from sklearn.cluster import AffinityPropagation, AgglomerativeClustering, SpectralClustering

    return AgglomerativeClustering, SpectralClustering, AffinityPropagation


def pairwise_gigabytes(n_samples: int) -> float:
    """Memory of the condensed float64 distance matrix of ``n_samples`` points, in GB."""
    return n_samples * (n_samples - 1) / 2 * 8 / 1e9


class SubsampleThenAssign(ClusterMixin, BaseEstimator):
    """Cluster a fixed-seed sample of ``sample_size`` songs with ``estimator``, then give every other song
    the cluster of its nearest sampled song: O(sample_size²) memory instead of O(N²).
    """

    def __init__(self, estimator: Any, sample_size: int = PAIRWISE_LIMIT, random_state: int = 0) -> None:
        self.estimator = estimator
        self.sample_size = sample_size
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Any = None) -> SubsampleThenAssign:
        from sklearn.base import clone
        from sklearn.neighbors import NearestNeighbors

        X = np.asarray(X)
        rng = np.random.default_rng(self.random_state)
        sample = np.sort(rng.choice(len(X), size=min(int(self.sample_size), len(X)), replace=False))
        sample_labels = np.asarray(clone(self.estimator).fit_predict(X[sample]), dtype=np.int64)
        nearest = NearestNeighbors(n_neighbors=1).fit(X[sample]).kneighbors(X, return_distance=False)[:, 0]
        self.labels_ = sample_labels[nearest]
        self.labels_[sample] = sample_labels
        self.sample_indices_ = sample
        return self

    def fit_predict(self, X: np.ndarray, y: Any = None, **_: Any) -> np.ndarray:
        return self.fit(X).labels_


def scalable_clusterer(
    estimator: Any, n_samples: int, minibatch_above: int | None = MINIBATCH_ABOVE,
    pairwise_limit: int | None = PAIRWISE_LIMIT, pairwise_strategy: str = "error", seed: int = 0,
) -> Any:
    """The clusterer to use for ``n_samples`` songs, so that large N fits in memory (``large_n`` settings).

    - ``KMeans`` above ``minibatch_above`` songs → ``MiniBatchKMeans`` with the same k, init, n_init and seed.
    - Agglomerative / spectral / affinity propagation above ``pairwise_limit`` songs: with
      ``pairwise_strategy="error"`` a :class:`ConfigError` that says what to do; with ``"subsample"``
      :class:`SubsampleThenAssign` over a ``pairwise_limit``-song sample.
    - Anything else, or small N: the estimator unchanged. ``None`` disables a limit.
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if pairwise_strategy not in ("error", "subsample"):
        raise ConfigError(f"large_n.pairwise_strategy={pairwise_strategy!r}: use 'error' or 'subsample'.")
    name = type(estimator).__name__
    if minibatch_above is not None and n_samples > int(minibatch_above) and type(estimator) is KMeans:
        params = estimator.get_params()
        log.info("%d songs > large_n.minibatch_above=%s: k-means runs as MiniBatchKMeans", n_samples, minibatch_above)
        return MiniBatchKMeans(
            n_clusters=params["n_clusters"], init=params["init"], n_init=params["n_init"],
            random_state=params["random_state"], batch_size=MINIBATCH_SIZE,
        )
    if pairwise_limit is not None and n_samples > int(pairwise_limit) and isinstance(estimator, _pairwise_clusterers()):
        if pairwise_strategy == "subsample":
            log.info("%d songs > large_n.pairwise_limit=%s: %s clusters a %s-song sample; the others join the "
                     "cluster of their nearest sampled song", n_samples, pairwise_limit, name, pairwise_limit)
            return SubsampleThenAssign(estimator, sample_size=int(pairwise_limit), random_state=seed)
        raise ConfigError(
            f"{name} keeps all pairwise distances in memory: {n_samples} songs would need about "
            f"{pairwise_gigabytes(n_samples):.1f} GB, above large_n.pairwise_limit={pairwise_limit} songs. "
            f"Use clusterer=kmeans (MiniBatchKMeans for large N), or large_n.pairwise_strategy=subsample to "
            f"cluster a {pairwise_limit}-song sample and assign the rest to their nearest sampled song, or raise "
            f"large_n.pairwise_limit if you have the memory."
        )
    return estimator
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
