"""Accuracy, V-measure, the random-label baseline, sanity flags and per-epoch clustering metrics."""

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from musiclust.evaluate import (
    clustering_accuracy,
    evaluate,
    external_metrics,
    labelled_metrics,
    largest_class_share,
    purity,
    sanity_report,
)
from musiclust.pipeline import run_experiment


def random_case(seed: int, noise: bool = False):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 120))
    labels = rng.choice(list("abcdefg")[: int(rng.integers(1, 8))], n)
    clusters = rng.integers(-1 if noise else 0, int(rng.integers(1, 9)), n)
    return labels, clusters


def brute_force_accuracy(labels, clusters) -> float:
    """Best one-to-one matching by trying every assignment (small cases only)."""
    table = pd.crosstab(clusters, labels).to_numpy()
    rows, cols = table.shape
    if rows <= cols:
        return max(sum(table[r, c] for r, c in enumerate(p)) for p in itertools.permutations(range(cols), rows)) / len(
            labels)
    return max(sum(table[r, c] for c, r in enumerate(p)) for p in itertools.permutations(range(rows), cols)) / len(
        labels)


def test_accuracy_of_a_perfect_clustering_is_one_under_any_renaming():
    labels = np.repeat(["rock", "folk", "jazz", "pop"], [10, 5, 7, 3])
    for names in itertools.permutations([0, 1, 2, 3]):
        clusters = np.array(names)[pd.factorize(labels)[0]]
        assert clustering_accuracy(labels, clusters) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(12))
def test_accuracy_is_the_best_one_to_one_matching(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 40))
    labels = rng.choice(list("abcd")[: int(rng.integers(2, 5))], n)
    clusters = rng.integers(0, int(rng.integers(2, 6)), n)
    assert clustering_accuracy(labels, clusters) == pytest.approx(brute_force_accuracy(labels, clusters))


@pytest.mark.parametrize("seed", range(30))
def test_accuracy_bounds(seed):
    """What is true: 1/max(#clusters, #classes) ≤ ACC ≤ purity ≤ 1 (without noise).

    ACC ≥ largest class share is NOT true (see the counterexample test below).
    """
    labels, clusters = random_case(seed)
    acc = clustering_accuracy(labels, clusters)
    n_max = max(len(np.unique(labels)), len(np.unique(clusters)))
    assert 1.0 / n_max - 1e-12 <= acc <= purity(labels, clusters) + 1e-12 <= 1 + 1e-12


def test_accuracy_can_be_below_the_largest_class_share():
    labels = np.array(["a"] * 6 + ["b"] * 4)
    clusters = np.array([0, 0, 0, 1, 1, 1, 0, 0, 1, 1])  # each cluster: 3 a + 2 b
    assert clustering_accuracy(labels, clusters) == pytest.approx(0.5)
    assert largest_class_share(labels) == pytest.approx(0.6)


def test_accuracy_with_more_clusters_than_classes_and_with_noise():
    labels = np.repeat(["a", "b"], 10)
    split = np.repeat([0, 1, 2, 3], 5)  # each class split in two pure clusters
    assert clustering_accuracy(labels, split) == pytest.approx(0.5)
    assert purity(labels, split) == pytest.approx(1.0)
    noisy = np.repeat([0, 1], 10)
    noisy[:4] = -1  # noise is never matched: it counts as wrong
    assert clustering_accuracy(labels, noisy) == pytest.approx(16 / 20)
    assert clustering_accuracy(labels, np.full(20, -1)) == 0.0


@pytest.mark.parametrize("seed", range(15))
def test_v_measure_is_nmi_with_arithmetic_mean(seed):
    labels, clusters = random_case(seed, noise=True)
    m = external_metrics(labels, clusters)
    assert m["v_measure"] == pytest.approx(m["nmi"], abs=1e-10)
    assert m["v_measure"] == pytest.approx(
        skm.normalized_mutual_info_score(labels, clusters, average_method="arithmetic"), abs=1e-10)
    assert 0 <= m["homogeneity"] <= 1 + 1e-12 and 0 <= m["completeness"] <= 1 + 1e-12


def test_random_baseline_is_chance_level_and_fixed():
    labels = np.repeat(np.arange(5), 100).astype(str)
    m = external_metrics(labels, np.repeat(np.arange(5), 100))
    assert m["nmi"] == pytest.approx(1.0) and m["acc"] == pytest.approx(1.0)
    assert abs(m["ari_random"]) < 0.02 and m["nmi_random"] < 0.03 and m["acc_random"] < 0.3
    assert m == external_metrics(labels, np.repeat(np.arange(5), 100))  # a fixed seed: same numbers
    assert m["sanity"] == "ok" and m["purity_ok"] and m["beats_random"]


def test_sanity_flags_clusters_no_better_than_chance_and_impossible_numbers():
    labels = np.repeat(np.arange(4), 50).astype(str)
    chance = np.random.default_rng(3).permutation(np.repeat(np.arange(4), 50))
    m = external_metrics(labels, chance)
    if m["nmi"] <= m["nmi_random"] or m["ari"] <= m["ari_random"]:
        assert not m["beats_random"] and "random-label baseline" in m["sanity"]
    single = external_metrics(labels, np.zeros(200, int))  # one cluster: nothing can beat chance
    assert not single["beats_random"] and single["purity_ok"]
    broken = {"purity": 0.2, "largest_class_share": 0.5, "acc": 0.3, "nmi": 0.5, "nmi_random": 0.0, "ari": 0.4,
              "ari_random": 0.0}
    report = sanity_report(broken)
    assert not report["purity_ok"] and "purity 0.200 < largest class share 0.500" in report["sanity"]
    assert "acc 0.300 > purity 0.200" in report["sanity"]


def test_unlabelled_songs_are_left_out_and_counted():
    labels = pd.Series(["a", "a", None, "b", "b", np.nan])
    clusters = np.array([0, 0, 1, 1, 1, 0])
    m = labelled_metrics(labels, clusters)
    assert m["n_unlabelled"] == 2 and m["acc"] == pytest.approx(1.0) and m["nmi"] == pytest.approx(1.0)
    assert labelled_metrics(pd.Series([None, None]), np.array([0, 1])) == {"n_unlabelled": 2}
    z = np.random.default_rng(0).normal(size=(6, 2))
    assert evaluate(z, clusters, labels_true=labels)["n_unlabelled"] == 2


def test_epoch_metrics_log_learning_curves(make_cfg, tmp_path):
    result = run_experiment(make_cfg("callbacks.epoch_metrics.every_n_epochs=2", "~callbacks.projection_plotter",
                                     "~callbacks.distribution_plotter", "~callbacks.reconstruction_plotter"))
    logged = pd.read_csv(tmp_path / "run" / "logs" / "metrics.csv")
    curve = logged.dropna(subset=["cluster/nmi"])
    assert list(curve["epoch"]) == [1, 2]  # every 2nd epoch and the last (max_epochs=3)
    assert curve["cluster/nmi"].between(0, 1).all() and curve["cluster/ari"].between(-1, 1).all()
    assert curve["cluster/silhouette"].between(-1, 1).all() and (curve["cluster/n_clusters"] == 6).all()
    # the last epoch's embeddings are the final ones, so the last point is the run's own result
    assert curve["cluster/nmi"].iloc[-1] == pytest.approx(result.metrics["nmi"], abs=1e-6)


def test_run_writes_acc_v_measure_and_baseline_and_closed_form_models_log_no_curves(make_cfg, tmp_path):
    run_experiment(make_cfg("model=pca", "callbacks.epoch_metrics.every_n_epochs=1", "~callbacks.projection_plotter"))
    row = pd.read_csv(tmp_path / "run" / "clustering_metrics.csv").iloc[0]
    for key in ("acc", "homogeneity", "completeness", "v_measure", "nmi_random", "ari_random", "acc_random"):
        assert np.isfinite(row[key]), key
    assert row["sanity"] == "ok" and bool(row["purity_ok"]) and bool(row["beats_random"])
    assert row["acc"] > row["acc_random"] and row["nmi"] > row["nmi_random"]
    assert row["reducer"] == "none"
    logged = pd.read_csv(tmp_path / "run" / "logs" / "metrics.csv")
    assert "cluster/nmi" not in logged.columns  # PCA trains no epochs
