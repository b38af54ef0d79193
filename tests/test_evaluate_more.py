"""Accuracy, the random-label baseline, sanity checks that fire, the objective and per-epoch clustering metrics."""

import itertools
import logging

import numpy as np
import pandas as pd
import pytest

from musiclust.clustering.metrics import (
    clustering_accuracy,
    evaluate,
    external_metrics,
    labelled_metrics,
    largest_class_share,
    purity,
)
from musiclust.clustering.objectives import objective_names, resolve_objective
from musiclust.errors import ConfigError
from musiclust.jobs import objective_of, run_and_report
from musiclust.pipeline import run_experiment


def brute_force_accuracy(labels, clusters) -> float:
    """Best one-to-one matching by trying every assignment (small cases only); noise is a cluster like any other."""
    table = pd.crosstab(clusters, labels).to_numpy()
    rows, cols = table.shape
    if rows <= cols:
        return max(sum(table[r, c] for r, c in enumerate(p)) for p in itertools.permutations(range(cols), rows)) / len(
            labels)
    return max(sum(table[r, c] for c, r in enumerate(p)) for p in itertools.permutations(range(rows), cols)) / len(
        labels)


def test_accuracy_of_a_perfect_clustering_is_one_under_any_renaming():
    labels = np.repeat(["rock", "folk", "jazz", "pop"], [10, 5, 7, 3])
    for names in itertools.permutations([-1, 0, 1, 2]):
        clusters = np.array(names)[pd.factorize(labels)[0]]
        assert clustering_accuracy(labels, clusters) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(12))
def test_accuracy_is_the_best_one_to_one_matching(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 40))
    labels = rng.choice(list("abcd")[: int(rng.integers(2, 5))], n)
    clusters = rng.integers(-1 if seed % 2 else 0, int(rng.integers(2, 6)), n)  # odd seeds: with noise
    assert clustering_accuracy(labels, clusters) == pytest.approx(brute_force_accuracy(labels, clusters))


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
    noisy[:8] = -1  # the noise cluster holds most of class a, so the matching gives it class a
    assert clustering_accuracy(labels, noisy) == pytest.approx(18 / 20)
    assert clustering_accuracy(labels, np.full(20, -1)) == pytest.approx(0.5)  # one cluster: one class right


def test_random_baseline_is_chance_level_fixed_and_averaged():
    labels = np.repeat(np.arange(5), 100).astype(str)
    perfect = np.repeat(np.arange(5), 100)
    m = external_metrics(labels, perfect)
    assert m["nmi"] == pytest.approx(1.0) and m["acc"] == pytest.approx(1.0)
    assert abs(m["ari_random"]) < 0.01 and abs(m["ami_random"]) < 0.01 and m["acc_random"] < 0.3
    assert 0 < m["ari_random_std"] < 0.02 and m["nmi_random_std"] > 0
    assert m == external_metrics(labels, perfect)  # a fixed seed: same numbers
    # an average of many permutations: its value moves far less with the seed than one permutation's score does
    means = [external_metrics(labels, perfect, seed=seed)["ari_random"] for seed in range(10)]
    assert np.std(means) < 0.5 * m["ari_random_std"]


def test_sanity_is_ok_for_a_good_clustering():
    rng = np.random.default_rng(0)
    blob = np.repeat(np.arange(3), 30)
    z = rng.normal(size=(90, 2)) + 6 * blob[:, None]
    m = evaluate(z, blob, labels_true=blob.astype(str), k_requested=3)
    assert m["sanity"] == "ok" and m["beats_random"]


def test_sanity_fires_when_clusters_are_no_better_than_chance(caplog):
    labels = np.repeat(np.arange(4), 50).astype(str)
    chance = np.random.default_rng(3).permutation(np.repeat(np.arange(4), 50))
    z = np.random.default_rng(0).normal(size=(200, 2))
    with caplog.at_level(logging.WARNING, logger="musiclust.clustering.metrics"):
        m = evaluate(z, chance, labels_true=labels, k_requested=4)
    assert not m["beats_random"] and "no better than chance" in m["sanity"]
    assert "no better than chance" in caplog.text
    single = evaluate(z, np.zeros(200, int), labels_true=labels)  # one cluster: nothing can beat chance
    assert not single["beats_random"] and "only 1 cluster" in single["sanity"]


def test_sanity_fires_when_fewer_clusters_than_requested():
    z = np.random.default_rng(0).normal(size=(30, 2))
    clusters = np.repeat([0, 1, 2], 10)
    assert evaluate(z, clusters, k_requested=3)["sanity"] == "ok"
    assert "3 clusters found, 4 requested" in evaluate(z, clusters, k_requested=4)["sanity"]


def test_sanity_fires_when_most_songs_are_noise():
    z = np.random.default_rng(0).normal(size=(40, 2))
    clusters = np.full(40, -1)
    clusters[:8], clusters[8:16] = 0, 1
    m = evaluate(z, clusters)
    assert m["coverage"] == pytest.approx(0.4) and "coverage 0.40" in m["sanity"]
    clusters[16:30] = 2
    assert evaluate(z, clusters)["sanity"] == "ok"  # coverage 0.75


def test_unlabelled_songs_are_left_out_and_counted():
    labels = pd.Series(["a", "a", None, "b", "b", np.nan])
    clusters = np.array([0, 0, 1, 1, 1, 0])
    m = labelled_metrics(labels, clusters)
    assert m["n_unlabelled"] == 2 and m["acc"] == pytest.approx(1.0) and m["nmi"] == pytest.approx(1.0)
    assert labelled_metrics(pd.Series([None, None]), np.array([0, 1])) == {"n_unlabelled": 2}
    z = np.random.default_rng(0).normal(size=(6, 2))
    assert evaluate(z, clusters, labels_true=labels)["n_unlabelled"] == 2


def test_objective_names_are_the_metrics_a_run_produces():
    z = np.random.default_rng(0).normal(size=(30, 2))
    clusters = np.repeat([0, 1, 2], 10)
    labelled = evaluate(z, clusters, labels_true=np.repeat(["a", "b", "c"], 10))
    unlabelled = evaluate(z, clusters)
    assert set(objective_names(labelled=True)) <= set(labelled)
    assert set(objective_names(labelled=False)) <= set(unlabelled)
    assert "nmi" not in objective_names(labelled=False) and "coverage" in objective_names(labelled=False)
    assert resolve_objective("auto", labelled=True) == "nmi"
    assert resolve_objective("auto", labelled=False) == "silhouette"
    with pytest.raises(ConfigError, match=r"objective=nmi .*label_col.*silhouette"):
        resolve_objective("nmi", labelled=False)


def test_objective_returns_the_named_metric(make_cfg):
    metrics = {"nmi": 0.4, "silhouette": 0.2, "davies_bouldin": 1.5}
    assert objective_of(make_cfg("objective=davies_bouldin"), metrics) == 1.5
    assert objective_of(make_cfg(), metrics) == 0.4  # auto with label_col=genre
    assert objective_of(make_cfg("label_col=null"), metrics) == 0.2  # auto without labels


def test_unknown_objective_stops_the_run_before_any_work(make_cfg, tmp_path, caplog):
    with pytest.raises(SystemExit) as exit_info:
        run_and_report(make_cfg("model=pca", "objective=silhuette"))
    assert exit_info.value.code == 2
    assert "objective=silhuette" in caplog.text and "silhouette, calinski_harabasz" in caplog.text
    assert not (tmp_path / "run").exists()


def test_epoch_metrics_log_learning_curves(make_cfg, tmp_path):
    result = run_experiment(make_cfg("callbacks.epoch_metrics.every_n_epochs=2", "~outputs.projections",
                                     "~outputs.distributions", "~outputs.reconstructions"))
    logged = pd.read_csv(tmp_path / "run" / "logs" / "metrics.csv")
    curve = logged.dropna(subset=["cluster/nmi"])
    assert list(curve["epoch"]) == [1, 2]  # every 2nd epoch and the last (max_epochs=3)
    assert curve["cluster/nmi"].between(0, 1).all() and curve["cluster/ari"].between(-1, 1).all()
    assert curve["cluster/silhouette"].between(-1, 1).all() and (curve["cluster/n_clusters"] == 6).all()
    # the last epoch's embeddings are the final ones, so the last point is the run's own result
    assert curve["cluster/nmi"].iloc[-1] == pytest.approx(result.metrics["nmi"], abs=1e-6)


def test_run_writes_chance_adjusted_scores_baseline_coverage_and_closed_form_models_log_no_curves(make_cfg, tmp_path):
    run_experiment(make_cfg("model=pca", "callbacks.epoch_metrics.every_n_epochs=1", "~outputs.projections"))
    row = pd.read_csv(tmp_path / "run" / "clustering_metrics.csv").iloc[0]
    for key in ("acc", "ami", "homogeneity", "completeness", "nmi_random", "ami_random", "ari_random",
                "acc_random", "ari_random_std", "coverage", "largest_class_share"):
        assert np.isfinite(row[key]), key
    assert "v_measure" not in row and "purity_ok" not in row
    assert row["sanity"] == "ok" and bool(row["beats_random"]) and row["coverage"] == 1.0
    assert row["acc"] > row["acc_random"] and row["ami"] > row["ami_random"] + 3 * row["ami_random_std"]
    assert row["reducer"] == "none"
    logged = pd.read_csv(tmp_path / "run" / "logs" / "metrics.csv")
    assert "cluster/nmi" not in logged.columns  # PCA trains no epochs


def test_unlabelled_run_reports_coverage_and_sanity(make_cfg, tmp_path):
    run_experiment(make_cfg("model=pca", "label_col=null", "clusterer=dbscan", "~outputs.projections",
                            "~outputs.distributions"))
    row = pd.read_csv(tmp_path / "run" / "clustering_metrics.csv").iloc[0]
    assert 0 <= row["coverage"] <= 1 and row["coverage"] == pytest.approx(1 - row["n_noise"] / row["n_songs"])
    assert isinstance(row["sanity"], str) and "nmi" not in row
