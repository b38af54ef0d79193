"""The metric set: internal (silhouette, Calinski–Harabasz, Davies–Bouldin) and external (ARI, NMI, purity)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from musiclust.cluster import NOISE


def purity(labels_true: np.ndarray, clusters: np.ndarray) -> float:
    """Share of songs that belong to the majority label of their cluster (noise counts as one cluster).

    Always ≥ the largest class share, and 1 when every cluster is pure.
    """
    table = pd.crosstab(pd.Series(clusters, name="cluster"), pd.Series(labels_true, name="label"))
    return float(table.max(axis=1).sum() / len(labels_true))


def largest_class_share(labels_true: np.ndarray) -> float:
    return float(pd.Series(labels_true).value_counts(normalize=True).iloc[0])


def external_metrics(labels_true: np.ndarray, clusters: np.ndarray) -> dict[str, float]:
    labels_true = np.asarray(labels_true).astype(str)
    return {
        "ari": float(skm.adjusted_rand_score(labels_true, clusters)),
        "nmi": float(skm.normalized_mutual_info_score(labels_true, clusters)),
        "purity": purity(labels_true, clusters),
        "largest_class_share": largest_class_share(labels_true),
        "n_classes": int(len(np.unique(labels_true))),
    }


def internal_metrics(
    z: np.ndarray, clusters: np.ndarray, silhouette_sample_size: int | None = None, seed: int = 0
) -> dict[str, float]:
    """Metrics over non-noise points; NaN when fewer than 2 clusters (or too few points) remain."""
    keep = clusters != NOISE
    z, clusters = np.asarray(z)[keep], clusters[keep]
    n_found = len(np.unique(clusters))
    if n_found < 2 or n_found >= len(clusters):
        return {"silhouette": float("nan"), "calinski_harabasz": float("nan"), "davies_bouldin": float("nan")}
    sample = silhouette_sample_size if silhouette_sample_size and silhouette_sample_size < len(z) else None
    return {
        "silhouette": float(skm.silhouette_score(z, clusters, sample_size=sample, random_state=seed)),
        "calinski_harabasz": float(skm.calinski_harabasz_score(z, clusters)),
        "davies_bouldin": float(skm.davies_bouldin_score(z, clusters)),
    }


def evaluate(
    z: np.ndarray, clusters: np.ndarray, labels_true: np.ndarray | None = None,
    silhouette_sample_size: int | None = None, seed: int = 0, active_threshold: float = 0.01,
) -> dict[str, Any]:
    """All metrics for one run, plus cluster counts and the number of active latent dims."""
    clusters = np.asarray(clusters)
    found = set(np.unique(clusters).tolist()) - {NOISE}
    out: dict[str, Any] = {
        "n_songs": int(len(clusters)),
        "n_clusters_found": len(found),
        "n_noise": int((clusters == NOISE).sum()),
        "latent_dims": int(np.asarray(z).shape[1]),
        "active_dims": int((np.asarray(z).var(axis=0) > active_threshold).sum()),
    }
    out.update(internal_metrics(z, clusters, silhouette_sample_size, seed))
    if labels_true is not None:
        out.update(external_metrics(labels_true, clusters))
    return out
