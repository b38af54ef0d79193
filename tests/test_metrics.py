"""Metric properties: the numbers a user compares must mean what they say."""

import numpy as np
import pytest

from musiclust.evaluate import evaluate, external_metrics, largest_class_share, purity


def test_perfect_clustering_scores_one():
    labels = np.repeat(["rock", "folk", "jazz"], 20)
    clusters = np.repeat([2, 0, 1], 20)
    m = external_metrics(labels, clusters)
    assert m["ari"] == pytest.approx(1.0)
    assert m["nmi"] == pytest.approx(1.0)
    assert m["purity"] == pytest.approx(1.0)


def test_shuffled_labels_give_ari_near_zero():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 200)
    clusters = rng.permutation(labels)
    m = external_metrics(labels.astype(str), clusters)
    assert abs(m["ari"]) < 0.02
    assert m["nmi"] < 0.02


def test_metrics_invariant_to_renaming_clusters():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 300).astype(str)
    clusters = np.where(rng.random(300) < 0.7, labels.astype(int), rng.integers(0, 4, 300))
    renamed = np.array([7, 3, 9, 1])[clusters]
    a, b = external_metrics(labels, clusters), external_metrics(labels, renamed)
    for key in ("ari", "nmi", "purity"):
        assert a[key] == pytest.approx(b[key])


@pytest.mark.parametrize("seed", range(20))
def test_purity_never_below_largest_class_share(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(10, 200))
    labels = rng.choice(list("abcdef")[: int(rng.integers(1, 7))], n, p=None)
    clusters = rng.integers(-1, int(rng.integers(1, 8)), n)
    assert purity(labels, clusters) >= largest_class_share(labels) - 1e-12
    assert purity(labels, clusters) <= 1.0


def test_single_cluster_purity_equals_largest_share():
    labels = np.array(["a"] * 7 + ["b"] * 3)
    assert purity(labels, np.zeros(10, int)) == pytest.approx(0.7)


def test_internal_metrics_ignore_noise_and_degenerate_cases():
    rng = np.random.default_rng(0)
    z = np.vstack([rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2))])
    clusters = np.repeat([0, 1], 20)
    good = evaluate(z, clusters)
    assert good["silhouette"] > 0.9 and good["n_clusters_found"] == 2
    noisy = clusters.copy()
    noisy[:5] = -1
    m = evaluate(z, noisy)
    assert m["n_noise"] == 5 and m["n_clusters_found"] == 2 and m["silhouette"] > 0.9
    one = evaluate(z, np.zeros(40, int))
    assert np.isnan(one["silhouette"])


def test_active_dims_counts_dimensions_that_vary():
    rng = np.random.default_rng(0)
    z = np.column_stack([rng.normal(0, 1, 100), np.full(100, 0.5), rng.normal(0, 0.001, 100)])
    assert evaluate(z, rng.integers(0, 2, 100))["active_dims"] == 1
