"""Reducers (``conf/reducer``): an optional map of the embeddings into the space that gets clustered.

``none`` clusters the model's embeddings as they are; ``umap`` is the N2D recipe (UMAP to ~10 dims with
``min_dist=0``, then cluster); ``pca`` keeps the leading principal components. Internal metrics
(silhouette, Calinski–Harabasz, Davies–Bouldin) stay in the model's embedding space, so a reducer cannot
inflate them; the silhouette in the reduced space is reported as ``silhouette_reduced``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array


def _check(z: np.ndarray) -> np.ndarray:
    return check_array(z, dtype=np.float64, ensure_min_samples=2)


class NoReducer(TransformerMixin, BaseEstimator):
    """Identity: cluster the embeddings themselves."""

    def fit(self, z: np.ndarray, y: object = None) -> NoReducer:
        return self

    def transform(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z)


class UMAPReducer(TransformerMixin, BaseEstimator):
    """UMAP to ``n_components`` dims (bounded by N − 2), ``n_neighbors`` bounded by N − 1; seeded."""

    def __init__(self, n_components: int = 10, n_neighbors: int = 20, min_dist: float = 0.0,
                 metric: str = "euclidean", random_state: int = 0) -> None:
        self.n_components, self.n_neighbors, self.min_dist = n_components, n_neighbors, min_dist
        self.metric, self.random_state = metric, random_state

    def fit_transform(self, z: np.ndarray, y: object = None) -> np.ndarray:
        import umap

        z = _check(z)
        n_songs = len(z)
        self.umap_ = umap.UMAP(
            n_components=max(1, min(int(self.n_components), n_songs - 2)),
            n_neighbors=max(2, min(int(self.n_neighbors), n_songs - 1)),
            min_dist=float(self.min_dist), metric=self.metric, random_state=int(self.random_state), n_jobs=1,
        )
        return np.asarray(self.umap_.fit_transform(z), dtype=np.float64)

    def fit(self, z: np.ndarray, y: object = None) -> UMAPReducer:
        self.fit_transform(z)
        return self

    def transform(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(self.umap_.transform(_check(z)), dtype=np.float64)


class PCAReducer(TransformerMixin, BaseEstimator):
    """PCA to ``n_components`` dims, bounded by the embedding dim and the number of songs."""

    def __init__(self, n_components: int = 10, whiten: bool = False, random_state: int = 0) -> None:
        self.n_components, self.whiten, self.random_state = n_components, whiten, random_state

    def fit(self, z: np.ndarray, y: object = None) -> PCAReducer:
        from sklearn.decomposition import PCA

        z = _check(z)
        n_components = max(1, min(int(self.n_components), z.shape[1], len(z)))
        self.pca_ = PCA(n_components=n_components, whiten=bool(self.whiten), random_state=self.random_state).fit(z)
        return self

    def transform(self, z: np.ndarray) -> np.ndarray:
        return self.pca_.transform(_check(z))


def reduces(reducer: object) -> bool:
    """Whether the reducer changes the space (anything but :class:`NoReducer`)."""
    return not isinstance(reducer, NoReducer)
