"""Reducers (``conf/reducer``): an optional map of the embeddings into the space that gets clustered.

``none`` clusters the model's embeddings as they are; ``umap`` is the N2D recipe (UMAP to ~10 dims with
``min_dist=0``, then cluster); ``pca`` keeps the leading principal components. Internal metrics
(silhouette, Calinski–Harabasz, Davies–Bouldin) stay in the model's embedding space, so a reducer cannot
inflate them; the silhouette in the reduced space is reported as ``silhouette_reduced``.

They are scikit-learn transformers: ``__init__`` stores the parameters, ``fit`` validates them. Sizes that the
data bounds (``n_components``, UMAP's ``n_neighbors``) are bounded with a warning, never silently; the values
used are fitted attributes (``n_components_``, ``n_neighbors_``) and, as ``clustering_metrics.csv`` columns,
``used_params_`` (``reducer_n_components``, ``reducer_n_neighbors``).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data

from musiclust.clustering.estimators import bounded, check_integer
from musiclust.errors import ConfigError


class NoReducer(TransformerMixin, BaseEstimator):
    """Identity: cluster the embeddings themselves."""

    def fit(self, z: np.ndarray, y: object = None) -> NoReducer:
        validate_data(self, z)
        return self

    def transform(self, z: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, z, reset=False)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]  # validation keeps float dtypes as they are
        return tags


class UMAPReducer(TransformerMixin, BaseEstimator):
    """UMAP to ``n_components`` dims (bounded by N − 2), ``n_neighbors`` bounded by N − 1; seeded.

    Fitted: ``umap_`` (the fitted ``umap.UMAP``), ``n_components_`` and ``n_neighbors_`` (the values used).
    """

    def __init__(self, n_components: int = 10, n_neighbors: int = 20, min_dist: float = 0.0,
                 metric: str = "euclidean", random_state: int | None = 0) -> None:
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.random_state = random_state

    def fit_transform(self, z: np.ndarray, y: object = None) -> np.ndarray:
        import umap

        # 3 songs at least: UMAP needs 2 neighbours per song and a spectral layout below N − 1 dims
        z = validate_data(self, z, dtype=np.float64, ensure_min_samples=3)
        n_components = check_integer("reducer.n_components", self.n_components, 1)
        n_neighbors = check_integer("reducer.n_neighbors", self.n_neighbors, 2)
        if not isinstance(self.min_dist, numbers.Real) or not self.min_dist >= 0:
            raise ConfigError(f"reducer.min_dist={self.min_dist!r}: must be a number ≥ 0 (0 = tight clumps).")
        n_songs = len(z)
        self.n_components_ = bounded("reducer.n_components", n_components, n_songs - 2,
                                     f"UMAP's spectral layout of {n_songs} songs has at most N − 2 dims")
        self.n_neighbors_ = bounded("reducer.n_neighbors", n_neighbors, n_songs - 1,
                                    f"each of the {n_songs} songs has {n_songs - 1} others")
        self.umap_ = umap.UMAP(
            n_components=self.n_components_, n_neighbors=self.n_neighbors_, min_dist=float(self.min_dist),
            metric=self.metric, random_state=self.random_state, n_jobs=1,
        )
        self.used_params_ = {"reducer_n_components": self.n_components_, "reducer_n_neighbors": self.n_neighbors_}
        return np.asarray(self.umap_.fit_transform(z), dtype=np.float64)

    def fit(self, z: np.ndarray, y: object = None) -> UMAPReducer:
        self.fit_transform(z)
        return self

    def transform(self, z: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        z = validate_data(self, z, dtype=np.float64, reset=False)
        return np.asarray(self.umap_.transform(z), dtype=np.float64)


class PCAReducer(TransformerMixin, BaseEstimator):
    """PCA to ``n_components`` dims, bounded by the embedding dim and the number of songs.

    Fitted: ``pca_`` (the fitted ``sklearn.decomposition.PCA``) and ``n_components_`` (the value used).
    """

    def __init__(self, n_components: int = 10, whiten: bool = False, random_state: int | None = 0) -> None:
        self.n_components = n_components
        self.whiten = whiten
        self.random_state = random_state

    def fit(self, z: np.ndarray, y: object = None) -> PCAReducer:
        from sklearn.decomposition import PCA

        z = validate_data(self, z, dtype=np.float64, ensure_min_samples=2)
        n_components = check_integer("reducer.n_components", self.n_components, 1)
        n_songs, n_dims = z.shape
        self.n_components_ = bounded("reducer.n_components", n_components, min(n_songs, n_dims),
                                     f"the embedding has {n_dims} dims and {n_songs} songs")
        self.pca_ = PCA(n_components=self.n_components_, whiten=bool(self.whiten),
                        random_state=self.random_state).fit(z)
        self.used_params_ = {"reducer_n_components": self.n_components_}
        return self

    def transform(self, z: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        return self.pca_.transform(validate_data(self, z, dtype=np.float64, reset=False))


def reduces(reducer: object) -> bool:
    """Whether the reducer changes the space (anything but :class:`NoReducer`)."""
    return not isinstance(reducer, NoReducer)
