"""The metric set: internal (silhouette, Calinski–Harabasz, Davies–Bouldin), external (ARI, AMI, NMI, purity,
unsupervised accuracy, homogeneity / completeness), coverage, a random-label baseline and sanity checks.

Noise policy (dbscan / hdbscan label songs they leave out −1): **noise is one more cluster, named "noise", in
every metric.** External metrics are computed over all songs with −1 as its own cluster (purity and ACC may
match the noise cluster to a class like any other cluster); internal metrics are computed over all songs with
noise as one cluster, so a scattered noise "cluster" scores poor cohesion and discarding songs is penalised
instead of rewarded. ``coverage`` (share of songs not labelled −1; 1.0 for k-means) and ``n_noise`` are
reported by every run. Internal metrics are NaN only when there are fewer than 2 distinct labels (noise
included) or as many labels as songs.

V-measure (β=1) equals NMI with the arithmetic mean (scikit-learn's default), which is what MTEB / MAEB report
as "v_measure", so it is not a separate column; ``homogeneity`` and ``completeness`` are its two halves.
NMI is not adjusted for chance (random clusters score above 0, more so with many clusters); AMI and ARI are
(≈ 0 for random clusters), and ``*_random`` shows each score for random clusters of the same sizes.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as skm
from sklearn.metrics.cluster import contingency_matrix

from musiclust.clustering.base import NOISE
from musiclust.clustering.objectives import EXTERNAL_METRICS, INTERNAL_METRICS

log = logging.getLogger(__name__)

#: the random baseline: the mean (and std) over this many fixed-seed permutations of the cluster assignments
RANDOM_BASELINE_PERMUTATIONS = 20
RANDOM_BASELINE_SEED = 0
#: external metrics also reported for the random baseline, as ``{name}_random`` and ``{name}_random_std``
BASELINE_METRICS = ("nmi", "ami", "ari", "acc")
#: a chance-adjusted score beats chance when it exceeds the permutation mean by this many standard deviations
BEATS_RANDOM_STDS = 3.0
#: sanity check: a run that assigns fewer songs than this share to a cluster is flagged
MIN_COVERAGE = 0.5


def purity(labels_true: np.ndarray, clusters: np.ndarray) -> float:
    """Share of songs that belong to the majority label of their cluster (noise counts as one cluster)."""
    table = contingency_matrix(labels_true, clusters)
    return float(table.max(axis=0).sum() / len(labels_true))


def largest_class_share(labels_true: np.ndarray) -> float:
    return float(pd.Series(labels_true).value_counts(normalize=True).iloc[0])


def clustering_accuracy(labels_true: np.ndarray, clusters: np.ndarray) -> float:
    """Unsupervised clustering accuracy: the share of songs right under the best one-to-one matching of
    clusters to classes (Hungarian algorithm).

    Works with more or fewer clusters than classes (unmatched clusters count as wrong); noise (−1) is one more
    cluster, matched like any other. 1 for a perfect clustering under any renaming.
    """
    labels_true, clusters = np.asarray(labels_true), np.asarray(clusters)
    if len(labels_true) == 0:
        return float("nan")
    table = contingency_matrix(labels_true, clusters)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / len(labels_true))


def _scores(labels_true: np.ndarray, clusters: np.ndarray, names: tuple[str, ...] = EXTERNAL_METRICS
            ) -> dict[str, float]:
    scores: dict[str, float] = {}
    if "ari" in names:
        scores["ari"] = float(skm.adjusted_rand_score(labels_true, clusters))
    if "ami" in names:
        scores["ami"] = float(skm.adjusted_mutual_info_score(labels_true, clusters))
    if "nmi" in names:
        scores["nmi"] = float(skm.normalized_mutual_info_score(labels_true, clusters))
    if "acc" in names:
        scores["acc"] = clustering_accuracy(labels_true, clusters)
    if "purity" in names:
        scores["purity"] = purity(labels_true, clusters)
    if "homogeneity" in names or "completeness" in names:
        homogeneity, completeness, _ = skm.homogeneity_completeness_v_measure(labels_true, clusters)
        scores["homogeneity"], scores["completeness"] = float(homogeneity), float(completeness)
    return scores


def random_baseline(
    labels_true: np.ndarray, clusters: np.ndarray, seed: int = RANDOM_BASELINE_SEED,
    n_permutations: int = RANDOM_BASELINE_PERMUTATIONS,
) -> dict[str, float]:
    """The metrics of chance clusterings with the same cluster sizes: mean and std over ``n_permutations``
    fixed-seed permutations of ``clusters`` (one permutation alone is a noisy estimate of chance)."""
    # integer codes: the permuted scores do not depend on the names, and sorting ints is far cheaper than strings
    label_codes = pd.factorize(np.asarray(labels_true))[0]
    cluster_codes = pd.factorize(np.asarray(clusters))[0]
    rng = np.random.default_rng(seed)
    runs = [_scores(label_codes, rng.permutation(cluster_codes), BASELINE_METRICS) for _ in range(n_permutations)]
    out: dict[str, float] = {}
    for name in BASELINE_METRICS:
        values = np.array([run[name] for run in runs])
        out[f"{name}_random"] = float(values.mean())
        out[f"{name}_random_std"] = float(values.std())
    return out


def external_metrics(
    labels_true: np.ndarray, clusters: np.ndarray, seed: int = RANDOM_BASELINE_SEED,
    n_permutations: int = RANDOM_BASELINE_PERMUTATIONS,
) -> dict[str, Any]:
    """Agreement of the clusters with known labels and, with ``n_permutations`` > 0, the random baseline."""
    labels_true = np.asarray(labels_true).astype(str)
    clusters = np.asarray(clusters)
    out: dict[str, Any] = _scores(labels_true, clusters)
    out["largest_class_share"] = largest_class_share(labels_true)
    out["n_classes"] = int(len(np.unique(labels_true)))
    if n_permutations > 0:
        out.update(random_baseline(labels_true, clusters, seed, n_permutations))
    return out


def labelled_metrics(
    labels: pd.Series | np.ndarray, clusters: np.ndarray, n_permutations: int = RANDOM_BASELINE_PERMUTATIONS,
) -> dict[str, Any]:
    """External metrics over the songs that have a label; ``n_unlabelled`` counts the others."""
    labels = pd.Series(labels).reset_index(drop=True)
    labelled = labels.notna().to_numpy()
    if not labelled.any():
        return {"n_unlabelled": int(len(labels))}
    out = external_metrics(labels[labelled].astype(str).to_numpy(), np.asarray(clusters)[labelled],
                           n_permutations=n_permutations)
    out["n_unlabelled"] = int((~labelled).sum())
    return out


def internal_metrics(
    z: np.ndarray, clusters: np.ndarray, silhouette_sample_size: int | None = None, seed: int = 0
) -> dict[str, float]:
    """Metrics of the embedding over all songs, noise as one cluster; NaN for fewer than 2 labels or one per song."""
    z, clusters = np.asarray(z), np.asarray(clusters)
    n_labels = len(np.unique(clusters))
    if n_labels < 2 or n_labels >= len(clusters):
        return {name: float("nan") for name in INTERNAL_METRICS}
    sample = silhouette_sample_size if silhouette_sample_size and silhouette_sample_size < len(z) else None
    return {
        "silhouette": float(skm.silhouette_score(z, clusters, sample_size=sample, random_state=seed)),
        "calinski_harabasz": float(skm.calinski_harabasz_score(z, clusters)),
        "davies_bouldin": float(skm.davies_bouldin_score(z, clusters)),
    }


def sanity_report(metrics: dict[str, Any], k_requested: int | None = None) -> dict[str, Any]:
    """Checks that can fail on a real run; ``sanity`` is "ok" or the problems found.

    - with labels, ``beats_random``: ARI and AMI exceed their permutation baseline by ``BEATS_RANDOM_STDS``
      standard deviations (else the clusters carry no label information);
    - fewer clusters found than ``k_requested``, or fewer than 2 clusters besides noise;
    - ``coverage`` below ``MIN_COVERAGE`` (most songs left out as noise).
    """
    problems = []
    out: dict[str, Any] = {}
    if "ari_random" in metrics:
        short = [name for name in ("ari", "ami") if not metrics[name] > metrics[f"{name}_random"]
                 + BEATS_RANDOM_STDS * metrics[f"{name}_random_std"]]
        out["beats_random"] = not short
        if short:
            problems.append("no better than chance: " + ", ".join(
                f"{name} {metrics[name]:.3f} ≤ {metrics[f'{name}_random']:.3f} + {BEATS_RANDOM_STDS:g}·"
                f"{metrics[f'{name}_random_std']:.3f} (random clusters)" for name in short))
    found = metrics["n_clusters_found"]
    if k_requested is not None and found < int(k_requested):
        problems.append(f"{found} clusters found, {int(k_requested)} requested")
    if found < 2:
        problems.append(f"only {found} cluster{'' if found == 1 else 's'} found besides noise")
    if metrics["coverage"] < MIN_COVERAGE:
        problems.append(f"coverage {metrics['coverage']:.2f} < {MIN_COVERAGE:g}: "
                        f"{metrics['n_noise']} of {metrics['n_songs']} songs are noise")
    out["sanity"] = "; ".join(problems) or "ok"
    return out


def evaluate(
    z: np.ndarray, clusters: np.ndarray, labels_true: np.ndarray | None = None,
    silhouette_sample_size: int | None = None, seed: int = 0, z_reduced: np.ndarray | None = None,
    k_requested: int | None = None,
) -> dict[str, Any]:
    """All metrics for one run, plus cluster counts, coverage and sanity checks (failed ones are logged).

    Internal metrics use the model's embedding ``z``. When the clusters were found in a reduced space
    (``reducer``), pass it as ``z_reduced`` to add ``silhouette_reduced``. Missing labels (NaN) are left
    out of the external metrics and counted as ``n_unlabelled``. ``k_requested`` (None for clusterers that
    find their own number) lets the sanity check flag runs that found fewer clusters.
    """
    clusters = np.asarray(clusters)
    found = set(np.unique(clusters).tolist()) - {NOISE}
    n_noise = int((clusters == NOISE).sum())
    out: dict[str, Any] = {
        "n_songs": int(len(clusters)),
        "n_clusters_found": len(found),
        "n_noise": n_noise,
        "coverage": float(1.0 - n_noise / len(clusters)) if len(clusters) else float("nan"),
        "latent_dims": int(np.asarray(z).shape[1]),
    }
    out.update(internal_metrics(z, clusters, silhouette_sample_size, seed))
    if z_reduced is not None:
        reduced = internal_metrics(z_reduced, clusters, silhouette_sample_size, seed)
        out["silhouette_reduced"] = reduced["silhouette"]
    if labels_true is not None:
        out.update(labelled_metrics(labels_true, clusters))
    out.update(sanity_report(out, k_requested))
    if out["sanity"] != "ok":
        log.warning("Sanity check: %s", out["sanity"])
    return out
