"""The metric set: internal (silhouette, Calinski–Harabasz, Davies–Bouldin), external (ARI, NMI, purity,
unsupervised accuracy, homogeneity / completeness / V-measure), a random-label baseline and sanity flags.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as skm

from musiclust.cluster import NOISE

log = logging.getLogger(__name__)

#: the random baseline permutes the cluster assignments with this fixed seed (same sizes, no structure)
RANDOM_BASELINE_SEED = 0
#: external metrics that are also reported for the random baseline, as ``{name}_random``
BASELINE_METRICS = ("nmi", "ari", "acc")


def purity(labels_true: np.ndarray, clusters: np.ndarray) -> float:
    """Share of songs that belong to the majority label of their cluster (noise counts as one cluster).

    Always ≥ the largest class share, and 1 when every cluster is pure.
    """
    table = pd.crosstab(pd.Series(clusters, name="cluster"), pd.Series(labels_true, name="label"))
    return float(table.max(axis=1).sum() / len(labels_true))


def largest_class_share(labels_true: np.ndarray) -> float:
    return float(pd.Series(labels_true).value_counts(normalize=True).iloc[0])


def clustering_accuracy(labels_true: np.ndarray, clusters: np.ndarray) -> float:
    """Unsupervised clustering accuracy: the share of songs right under the best one-to-one matching of
    clusters to classes (Hungarian algorithm).

    Works with more or fewer clusters than classes (unmatched clusters count as wrong); noise (−1) is never
    matched, so it counts as wrong. Always ≤ purity (which matches many clusters to one class), and 1 for a
    perfect clustering under any renaming.
    """
    labels_true, clusters = np.asarray(labels_true), np.asarray(clusters)
    if len(labels_true) == 0:
        return float("nan")
    keep = clusters != NOISE
    if not keep.any():
        return 0.0
    table = pd.crosstab(pd.Series(clusters[keep], name="cluster"), pd.Series(labels_true[keep], name="label"))
    rows, cols = linear_sum_assignment(table.to_numpy(), maximize=True)
    return float(table.to_numpy()[rows, cols].sum() / len(labels_true))


def _scores(labels_true: np.ndarray, clusters: np.ndarray) -> dict[str, float]:
    homogeneity, completeness, v_measure = skm.homogeneity_completeness_v_measure(labels_true, clusters)
    return {
        "ari": float(skm.adjusted_rand_score(labels_true, clusters)),
        "nmi": float(skm.normalized_mutual_info_score(labels_true, clusters)),
        "acc": clustering_accuracy(labels_true, clusters),
        "purity": purity(labels_true, clusters),
        "homogeneity": float(homogeneity),
        "completeness": float(completeness),
        "v_measure": float(v_measure),
    }


def random_baseline(
    labels_true: np.ndarray, clusters: np.ndarray, seed: int = RANDOM_BASELINE_SEED
) -> dict[str, float]:
    """The metrics of a chance clustering with the same cluster sizes: a fixed-seed permutation of ``clusters``."""
    shuffled = np.random.default_rng(seed).permutation(np.asarray(clusters))
    scores = _scores(labels_true, shuffled)
    return {f"{name}_random": scores[name] for name in BASELINE_METRICS}


def sanity_report(metrics: dict[str, Any]) -> dict[str, Any]:
    """Flags for numbers that cannot be right or that mean nothing: ``sanity`` is "ok" or the problems found.

    - purity below the largest class share is impossible (a bug, never a result);
    - ACC above purity is impossible (one-to-one matching cannot beat many-to-one);
    - NMI and ARI no better than the random-label baseline mean the clusters carry no label information.
    """
    problems = []
    purity_ok = metrics["purity"] >= metrics["largest_class_share"] - 1e-9
    if not purity_ok:
        problems.append(f"purity {metrics['purity']:.3f} < largest class share {metrics['largest_class_share']:.3f}")
    if metrics["acc"] > metrics["purity"] + 1e-9:
        problems.append(f"acc {metrics['acc']:.3f} > purity {metrics['purity']:.3f}")
    beats_random = bool(metrics["nmi"] > metrics["nmi_random"] and metrics["ari"] > metrics["ari_random"])
    if not beats_random:
        problems.append("no better than the random-label baseline (nmi/ari ≤ nmi_random/ari_random)")
    return {"purity_ok": bool(purity_ok), "beats_random": beats_random, "sanity": "; ".join(problems) or "ok"}


def external_metrics(
    labels_true: np.ndarray, clusters: np.ndarray, seed: int = RANDOM_BASELINE_SEED
) -> dict[str, Any]:
    """Agreement of the clusters with known labels, the random-label baseline beside it, and sanity flags."""
    labels_true = np.asarray(labels_true).astype(str)
    clusters = np.asarray(clusters)
    out: dict[str, Any] = _scores(labels_true, clusters)
    out["largest_class_share"] = largest_class_share(labels_true)
    out["n_classes"] = int(len(np.unique(labels_true)))
    out.update(random_baseline(labels_true, clusters, seed))
    out.update(sanity_report(out))
    return out


def labelled_metrics(labels: pd.Series | np.ndarray, clusters: np.ndarray) -> dict[str, Any]:
    """External metrics over the songs that have a label; ``n_unlabelled`` counts the others."""
    labels = pd.Series(labels).reset_index(drop=True)
    labelled = labels.notna().to_numpy()
    if not labelled.any():
        return {"n_unlabelled": int(len(labels))}
    out = external_metrics(labels[labelled].astype(str).to_numpy(), np.asarray(clusters)[labelled])
    out["n_unlabelled"] = int((~labelled).sum())
    return out


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
    z_reduced: np.ndarray | None = None,
) -> dict[str, Any]:
    """All metrics for one run, plus cluster counts and the number of active latent dims; logs failed sanity checks.

    Internal metrics use the model's embedding ``z``. When the clusters were found in a reduced space
    (``reducer``), pass it as ``z_reduced`` to add ``silhouette_reduced``. Missing labels (NaN) are left
    out of the external metrics and counted as ``n_unlabelled``.
    """
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
    if z_reduced is not None:
        reduced = internal_metrics(z_reduced, clusters, silhouette_sample_size, seed)
        out["silhouette_reduced"] = reduced["silhouette"]
    if labels_true is not None:
        out.update(labelled_metrics(labels_true, clusters))
        if out.get("sanity", "ok") != "ok":
            log.warning("Sanity check: %s", out["sanity"])
    return out
