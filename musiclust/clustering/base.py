"""What every clustering shares: the noise label, the requested k, and clustering embeddings safely."""

from __future__ import annotations

import numpy as np

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
