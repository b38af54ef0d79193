"""Large collections: clusterers adapted to N by :func:`scalable_clusterer` (``large_n`` settings)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import validate_data

from musiclust.clustering.estimators import bounded, check_integer
from musiclust.errors import ConfigError

log = logging.getLogger(__name__)

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

    Fitted: ``estimator_`` (the clone that clustered the sample), ``sample_indices_``, ``labels_`` and
    ``used_params_`` (the sample size used, and the fitted estimator's own ``used_params_`` if it has any).
    """

    def __init__(self, estimator: Any, sample_size: int = PAIRWISE_LIMIT, random_state: int | None = 0) -> None:
        self.estimator = estimator
        self.sample_size = sample_size
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Any = None) -> SubsampleThenAssign:
        X = validate_data(self, X)
        sample_size = check_integer("sample_size", self.sample_size, 1, " In a run it is large_n.pairwise_limit.")
        n_songs = len(X)
        self.sample_size_ = bounded("sample_size", sample_size, n_songs, f"there are {n_songs} songs")
        rng = np.random.default_rng(self.random_state)
        sample = np.sort(rng.choice(n_songs, size=self.sample_size_, replace=False))
        self.estimator_ = clone(self.estimator)
        sample_labels = np.asarray(self.estimator_.fit_predict(X[sample]), dtype=np.int64)
        nearest = NearestNeighbors(n_neighbors=1).fit(X[sample]).kneighbors(X, return_distance=False)[:, 0]
        self.labels_ = sample_labels[nearest]
        self.labels_[sample] = sample_labels
        self.sample_indices_ = sample
        self.used_params_ = {"clusterer_sample_size": self.sample_size_,
                             **getattr(self.estimator_, "used_params_", {})}
        return self


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
