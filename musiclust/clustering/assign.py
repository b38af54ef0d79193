"""Assigning songs to the clusters of a finished run, for clusterers that have no ``predict`` of their own.

Each rule is a small scikit-learn estimator fitted from the clustered space of the run's songs and their clusters,
with ``predict(z)``; :func:`assigner_for` picks the rule for a fitted clusterer:

- k-means, MiniBatchKMeans, Gaussian mixtures (any clusterer with ``predict``): their own ``predict``;
- ``clusterer=model`` (VaDE): the model's own ``predict_clusters`` (:class:`ModelClusters` without its model);
- agglomerative, spectral, large-N subsampling (:class:`NearestSongAssigner`): the cluster of the nearest song
  of the run. The run's own songs get exactly their clusters back (each is its own nearest song), clusters of
  any shape are followed (a nearest-centroid rule would cut spectral clustering's non-convex clusters), and it is
  the rule :class:`~musiclust.clustering.large_n.SubsampleThenAssign` already uses for songs outside its sample;
- DBSCAN (:func:`core_sample_assigner`): the cluster of the nearest core sample when it is within ``eps_``, else
  noise (−1) — DBSCAN's own rule for border points. A border song within ``eps_`` of core samples of two clusters
  is given to the nearest one, where DBSCAN gives it to whichever it reached first, so such songs may differ;
- HDBSCAN (:func:`core_distance_assigner`; scikit-learn's has no approximate predict): the cluster of the nearest
  clustered song when the new song lies within that song's core distance and is itself at least as dense (their
  mutual reachability distance is that song's core distance), else noise (:class:`CoreDistanceAssigner`). The
  run's clustered songs get their clusters back; HDBSCAN may leave a song as noise that passes this test (its
  condensed tree drops small branches), so a noise song of the run can come back in a cluster.

:func:`cluster_centres` and :func:`distance_to_centre` give the distance column of ``assignments.csv``, and
:func:`membership_probability` its probability column.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted, validate_data

from musiclust.clustering.base import NOISE
from musiclust.clustering.estimators import DBSCAN, ModelClusters


def _nearest(points: np.ndarray, x: np.ndarray, n_neighbors: int = 1, metric: str = "euclidean",
             ) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of the ``n_neighbors`` nearest ``points`` of each row of ``x``.

    Euclidean distances are recomputed from the differences: the search's dot-product shortcut leaves ~1e-8 where
    a song meets itself, and a song of the run must find itself at distance 0.
    """
    search = NearestNeighbors(n_neighbors=min(n_neighbors, len(points)), metric=metric).fit(points)
    distance, nearest = search.kneighbors(x)
    if metric == "euclidean":
        distance = np.linalg.norm(points[nearest] - x[:, None, :], axis=2)
    return distance, nearest


class NearestSongAssigner(ClusterMixin, BaseEstimator):
    """Each song joins the cluster of its nearest fitted song when it is within that song's ``reach_``, else it
    is noise (−1). Fitted on songs and their clusters: ``points_``, ``labels_``, ``reach_`` (infinite here, so
    every song joins its nearest song's cluster; subclasses bound it)."""

    def __init__(self, metric: str = "euclidean") -> None:
        self.metric = metric

    def _reach(self, x: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return np.full(len(x), np.inf)

    def _keep(self, labels: np.ndarray) -> np.ndarray:
        """Which fitted songs new songs may join (all of them here)."""
        return np.ones(len(labels), dtype=bool)

    def fit(self, X: np.ndarray, y: np.ndarray) -> NearestSongAssigner:
        x = validate_data(self, X, dtype=np.float64)
        labels = np.asarray(y, dtype=np.int64)
        if labels.shape != (len(x),):
            raise ValueError(f"{len(labels)} cluster labels for {len(x)} songs")
        reach = self._reach(x, labels)
        keep = self._keep(labels)
        self.points_, self.labels_, self.reach_ = x[keep], labels[keep], reach[keep]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        x = validate_data(self, X, dtype=np.float64, reset=False)
        if len(self.points_) == 0:  # the run found no cluster (all noise): neither can new songs
            return np.full(len(x), NOISE, dtype=np.int64)
        distance, nearest = _nearest(self.points_, x, metric=self.metric)
        distance, nearest = distance[:, 0], nearest[:, 0]
        joins = (distance <= self.reach_[nearest]) & self._dense_enough(x, self.reach_[nearest])
        return np.where(joins, self.labels_[nearest], NOISE).astype(np.int64)

    def _dense_enough(self, x: np.ndarray, reach: np.ndarray) -> np.ndarray:
        """Whether each song is dense enough to join (always here)."""
        return np.ones(len(x), dtype=bool)

    def fit_predict(self, X: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        return self.fit(X, y).predict(X)


class CoreSampleAssigner(NearestSongAssigner):
    """DBSCAN's rule: fitted on the core samples and their clusters, a song joins the cluster of its nearest core
    sample when it is within ``eps`` of it, else it is noise."""

    def __init__(self, eps: float = 0.5, metric: str = "euclidean") -> None:
        self.eps = eps
        self.metric = metric

    def _reach(self, x: np.ndarray, labels: np.ndarray) -> np.ndarray:
        if not isinstance(self.eps, numbers.Real) or not self.eps > 0:
            raise ValueError(f"eps={self.eps!r}: must be a positive radius")
        return np.full(len(x), float(self.eps))


class CoreDistanceAssigner(NearestSongAssigner):
    """An HDBSCAN-style rule: fitted on every song and its cluster (noise included, for the density), a song joins
    the cluster of its nearest clustered song q when its mutual reachability distance to q — max(core(song),
    core(q), d(song, q)) — is q's own core distance: the song lies within q's dense neighbourhood and is itself at
    least as dense. Else it is noise. A core distance is the distance to the ``min_samples``-th nearest song of the
    run, the song itself counted (as scikit-learn's HDBSCAN counts it); a new song counts itself as one more.
    Fitted: ``density_points_`` (every song of the run) besides the clustered ``points_``."""

    def __init__(self, min_samples: int = 5, metric: str = "euclidean") -> None:
        self.min_samples = min_samples
        self.metric = metric

    def _reach(self, x: np.ndarray, labels: np.ndarray) -> np.ndarray:
        if isinstance(self.min_samples, bool) or not isinstance(self.min_samples, numbers.Integral) \
                or self.min_samples < 1:
            raise ValueError(f"min_samples={self.min_samples!r}: must be an integer ≥ 1")
        self.density_points_ = x
        self.min_samples_ = int(min(self.min_samples, len(x)))
        distance, _ = _nearest(x, x, n_neighbors=self.min_samples_, metric=self.metric)
        return distance[:, -1]

    def _dense_enough(self, x: np.ndarray, reach: np.ndarray) -> np.ndarray:
        distance, _ = _nearest(self.density_points_, x, n_neighbors=self.min_samples_, metric=self.metric)
        is_run_song = distance[:, 0] == 0  # the song itself is among the run's: its own core distance
        others = distance[:, self.min_samples_ - 2] if self.min_samples_ >= 2 else np.zeros(len(x))
        return np.where(is_run_song, distance[:, -1], others) <= reach

    def _keep(self, labels: np.ndarray) -> np.ndarray:
        return labels != NOISE


def core_sample_assigner(dbscan: Any, x: np.ndarray, labels: np.ndarray) -> CoreSampleAssigner:
    """The assigner of a fitted DBSCAN (musiclust's or scikit-learn's): its core samples and radius."""
    core = np.asarray(dbscan.core_sample_indices_, dtype=np.int64)
    eps = float(getattr(dbscan, "eps_", dbscan.eps))
    assigner = CoreSampleAssigner(eps=eps, metric=str(dbscan.metric))
    if len(core) == 0:  # no dense region, every song is noise: so is every new song
        return assigner.fit(x, np.full(len(x), NOISE))
    return assigner.fit(np.asarray(x)[core], labels[core])


def core_distance_assigner(hdbscan: Any, x: np.ndarray, labels: np.ndarray) -> CoreDistanceAssigner:
    """The assigner of a fitted scikit-learn HDBSCAN: its ``min_samples`` (``min_cluster_size`` when unset)."""
    min_samples = hdbscan.min_samples if hdbscan.min_samples is not None else hdbscan.min_cluster_size
    metric = hdbscan.metric if isinstance(hdbscan.metric, str) else "euclidean"
    return CoreDistanceAssigner(min_samples=int(min(min_samples, len(x))), metric=metric).fit(x, labels)


def assigner_for(clusterer: Any, x: np.ndarray, labels: np.ndarray) -> Any:
    """What assigns new songs to the clusters ``clusterer`` found on ``x`` (the clustered space) with ``labels``.

    A clusterer with ``predict`` is its own assigner; ``clusterer=model`` gives an unbound :class:`ModelClusters`
    (the model is saved apart and bound again when predicting); the others get a rule fitted here (module doc).
    """
    from sklearn.cluster import DBSCAN as SklearnDBSCAN
    from sklearn.cluster import HDBSCAN

    labels = np.asarray(labels, dtype=np.int64)
    x = np.asarray(x, dtype=np.float64)
    if isinstance(clusterer, ModelClusters):
        return ModelClusters(n_clusters=clusterer.n_clusters)
    if callable(getattr(clusterer, "predict", None)):
        return clusterer
    if isinstance(clusterer, DBSCAN | SklearnDBSCAN):
        return core_sample_assigner(clusterer, x, labels)
    if isinstance(clusterer, HDBSCAN):
        return core_distance_assigner(clusterer, x, labels)
    return NearestSongAssigner().fit(x, labels)


class NeighbourEmbedding(TransformerMixin, BaseEstimator):
    """Places songs in a space fitted on other songs (a UMAP embedding, which cannot be saved safely) at the
    inverse-distance weighted mean of the coordinates of their ``n_neighbors`` nearest fitted songs — UMAP's own
    starting point for new points, without its optimisation epochs. A song equal to a fitted one gets that song's
    coordinates exactly. Fitted with ``fit(z, coordinates)``: ``points_`` (the model's embeddings of the fitted
    songs) and ``coordinates_`` (theirs in the reduced space)."""

    def __init__(self, n_neighbors: int = 15) -> None:
        self.n_neighbors = n_neighbors

    def fit(self, X: np.ndarray, y: np.ndarray) -> NeighbourEmbedding:
        self.points_ = validate_data(self, X, dtype=np.float64)
        coordinates = np.asarray(y, dtype=np.float64)
        self.coordinates_ = coordinates.reshape(-1, 1) if coordinates.ndim == 1 else coordinates
        if self.coordinates_.ndim != 2 or len(self.coordinates_) != len(self.points_):
            raise ValueError(f"coordinates of shape {self.coordinates_.shape} for {len(self.points_)} songs")
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        x = validate_data(self, X, dtype=np.float64, reset=False)
        distance, nearest = _nearest(self.points_, x, n_neighbors=int(self.n_neighbors))
        exact = distance[:, 0] == 0
        weights = 1.0 / np.where(exact[:, None], 1.0, distance)
        placed = np.einsum("nk,nkd->nd", weights, self.coordinates_[nearest]) / weights.sum(axis=1, keepdims=True)
        placed[exact] = self.coordinates_[nearest[exact, 0]]
        return placed


# -- the columns of assignments.csv ------------------------------------------------------------------------
def cluster_centres(clusterer: Any, x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cluster ids, centres) in the clustered space: k-means' own centres (``cluster_centers_``), else the mean of
    each cluster's songs. Noise has no centre."""
    centres = getattr(clusterer, "cluster_centers_", None)
    if centres is not None:
        centres = np.asarray(centres, dtype=np.float64)
        return np.arange(len(centres), dtype=np.int64), centres
    x, labels = np.asarray(x, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    ids = np.array(sorted(set(labels.tolist()) - {NOISE}), dtype=np.int64)
    return ids, np.array([x[labels == c].mean(axis=0) for c in ids]).reshape(len(ids), x.shape[1])


def distance_to_centre(x: np.ndarray, labels: np.ndarray, ids: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Each song's Euclidean distance to the centre of its cluster (NaN for noise)."""
    x, labels = np.asarray(x, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    ids = np.asarray(ids, dtype=np.int64)
    order = np.argsort(ids)
    position = np.searchsorted(ids, labels, sorter=order).clip(0, max(len(ids) - 1, 0))
    has_centre = (ids[order][position] == labels) if len(ids) else np.zeros(len(labels), dtype=bool)
    distance = np.full(len(x), np.nan)
    rows = np.flatnonzero(has_centre)
    distance[rows] = np.linalg.norm(x[rows] - np.asarray(centres)[order][position[rows]], axis=1)
    return distance


def membership_probability(assigner: Any, x: np.ndarray, labels: np.ndarray) -> np.ndarray | None:
    """The probability of each song's cluster where the clusterer has one (Gaussian mixtures, VaDE's own
    clusters: ``predict_proba``), else None."""
    if isinstance(assigner, ModelClusters):
        proba = assigner.predict_proba(x)
    elif callable(getattr(assigner, "predict_proba", None)):
        proba = assigner.predict_proba(np.asarray(x, dtype=np.float64))
    else:
        return None
    if proba is None:
        return None
    labels = np.asarray(labels, dtype=np.int64)
    return np.where(labels >= 0, np.asarray(proba)[np.arange(len(labels)), np.clip(labels, 0, None)], np.nan)
