"""Metric properties that can fail: the numbers a user compares must mean what they say."""

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.cluster import KMeans

from musiclust.clustering.metrics import EXTERNAL_METRICS, INTERNAL_METRICS, evaluate, external_metrics


def three_blobs(n_per_blob: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [5.0, 8.66]])
    z = np.vstack([rng.normal(centre, 1.0, (n_per_blob, 2)) for centre in centres])
    return z, np.repeat(np.arange(3), n_per_blob)


def dense_cores_only(z: np.ndarray, blob: np.ndarray, share: float) -> np.ndarray:
    """A DBSCAN-like labelling: the ``share`` of each blob nearest its centre is a cluster, the rest noise."""
    clusters = np.full(len(z), -1)
    for b in np.unique(blob):
        members = np.flatnonzero(blob == b)
        distance = np.linalg.norm(z[members] - z[members].mean(axis=0), axis=1)
        clusters[members[np.argsort(distance)[: int(round(share * len(members)))]]] = b
    return clusters


def test_discarding_songs_as_noise_does_not_win_on_silhouette():
    """The noise policy on a constructed case: 90 % noise around tight cores must not beat k-means of all songs."""
    z, blob = three_blobs()
    labels = np.array(["rock", "folk", "jazz"])[blob]
    cores = dense_cores_only(z, blob, share=0.1)
    kmeans = KMeans(3, n_init=10, random_state=0).fit_predict(z)
    dense, full = evaluate(z, cores, labels_true=labels), evaluate(z, kmeans, labels_true=labels)
    assert dense["silhouette"] < full["silhouette"]
    assert dense["calinski_harabasz"] < full["calinski_harabasz"]
    assert dense["davies_bouldin"] > full["davies_bouldin"]
    assert dense["coverage"] == pytest.approx(0.1) and dense["n_noise"] == 270
    assert full["coverage"] == 1.0 and full["n_noise"] == 0
    # noise is one more cluster: the noise cluster's majority counts for purity (30 + 90 of 300) and the
    # one-to-one matching may give it a class (90) beside two of the cores (10 + 10)
    assert dense["purity"] == pytest.approx(120 / 300)
    assert dense["acc"] == pytest.approx(110 / 300)
    assert dense["nmi"] == pytest.approx(skm.normalized_mutual_info_score(labels, cores))
    assert dense["ami"] == pytest.approx(skm.adjusted_mutual_info_score(labels, cores))
    assert dense["n_clusters_found"] == 3


def test_noise_scores_like_any_other_cluster_id():
    """Renaming the noise label −1 to an ordinary id changes coverage only, never a score."""
    z, blob = three_blobs(n_per_blob=40, seed=1)
    labels = blob.astype(str)
    clusters = dense_cores_only(z, blob, share=0.6)
    as_noise = evaluate(z, clusters, labels_true=labels)
    as_cluster = evaluate(z, np.where(clusters == -1, 7, clusters), labels_true=labels)
    for name in (*INTERNAL_METRICS, *EXTERNAL_METRICS):
        assert as_noise[name] == pytest.approx(as_cluster[name]), name
    assert as_noise["coverage"] == pytest.approx(0.6) and as_cluster["coverage"] == 1.0


def test_internal_metrics_are_nan_only_for_degenerate_labellings():
    z, blob = three_blobs(n_per_blob=20)
    one_core = np.where(blob == 0, 0, -1)  # one cluster + noise: two labels, so the scores exist
    assert np.isfinite([evaluate(z, one_core)[name] for name in INTERNAL_METRICS]).all()
    for degenerate in (np.full(60, -1), np.zeros(60, int), np.arange(60)):
        m = evaluate(z, degenerate)
        assert all(np.isnan(m[name]) for name in INTERNAL_METRICS)


def test_perfect_clustering_scores_one_under_any_cluster_ids():
    labels = np.repeat(["rock", "folk", "jazz"], 20)
    for ids in ([2, 0, 1], [-1, 5, 9]):  # a "noise" cluster that is exactly one class is still perfect
        m = external_metrics(labels, np.repeat(ids, 20))
        for name in EXTERNAL_METRICS:
            assert m[name] == pytest.approx(1.0), (ids, name)


def test_shuffled_clusters_score_chance_and_only_nmi_is_biased():
    """ARI and AMI are adjusted for chance, NMI is not: with many small clusters NMI > 0 for random clusters."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 60).astype(str)
    many = rng.integers(0, 60, len(labels))
    m = external_metrics(labels, many)
    assert abs(m["ari"]) < 0.02 and abs(m["ami"]) < 0.03
    assert m["nmi"] > 0.15  # the bias AMI removes
    assert m["nmi_random"] == pytest.approx(m["nmi"], abs=0.03)  # the permutation baseline shows it


def test_metrics_invariant_to_renaming_clusters():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 300).astype(str)
    clusters = np.where(rng.random(300) < 0.7, labels.astype(int), rng.integers(-1, 4, 300))
    renamed = np.array([7, 3, 9, 1, 12])[clusters]  # -1 indexes the last entry: noise becomes cluster 12
    z = rng.normal(size=(300, 3)) + clusters[:, None]
    a, b = evaluate(z, clusters, labels_true=labels), evaluate(z, renamed, labels_true=labels)
    for name in (*INTERNAL_METRICS, *EXTERNAL_METRICS, "nmi_random", "ari_random", "ami_random", "acc_random"):
        assert a[name] == pytest.approx(b[name]), name


def test_evaluate_reports_no_v_measure_or_active_dims():
    """V-measure (β=1) is NMI with the arithmetic mean, so it is not a second column; active dims live in models."""
    z, blob = three_blobs(n_per_blob=10)
    m = evaluate(z, blob, labels_true=blob.astype(str))
    assert "v_measure" not in m and "active_dims" not in m and m["latent_dims"] == 2
