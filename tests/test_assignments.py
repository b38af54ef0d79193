"""assignments.csv in every run, and the rules that assign songs to the clusters of clusterers without predict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.datasets import make_blobs
from sklearn.utils.estimator_checks import parametrize_with_checks

from musiclust.clustering.assign import (
    CoreDistanceAssigner,
    CoreSampleAssigner,
    NearestSongAssigner,
    NeighbourEmbedding,
    assigner_for,
    core_sample_assigner,
)
from musiclust.clustering.estimators import DBSCAN
from musiclust.layout import ASSIGNMENTS_FILE, LATENTS_FILE
from musiclust.outputs.learned import Learned
from musiclust.pipeline import run_experiment
from musiclust.preprocess import one_hot

FAST = ["outputs.projections.methods=[]", "~outputs.distributions", "~outputs.reconstructions"]


def test_a_default_run_writes_one_row_per_song_with_its_cluster_distance_and_labels(make_cfg, tmp_path):
    result = run_experiment(make_cfg(*FAST))  # the default run: VAE on MFCC statistics, k-means
    table = pd.read_csv(result.run_dir / ASSIGNMENTS_FILE, dtype={"id": str})
    latents = np.load(result.run_dir / LATENTS_FILE)
    assert list(table.columns) == ["id", "cluster", "cluster_name", "distance", "genre", "language"]
    assert len(table) == 36 and table["id"].tolist() == latents["ids"].tolist()  # the run's song order
    assert table["cluster"].tolist() == latents["clusters"].tolist()
    assert table["cluster_name"].tolist() == [f"c{c}" for c in latents["clusters"]]
    assert table["genre"].tolist() == result.manifest["genre"].tolist()
    # the distance is k-means' own: to the song's centre, the nearest of them
    kmeans = Learned(result.run_dir / "learned", {}).assigner()
    assert isinstance(kmeans, KMeans)
    distances = kmeans.transform(latents["z"].astype(np.float64))
    np.testing.assert_allclose(table["distance"], distances.min(axis=1), rtol=1e-6)
    assert (distances.argmin(axis=1) == table["cluster"]).all()


def test_gmm_gives_its_probability_and_dbscan_marks_noise(make_cfg, tmp_path):
    gmm = run_experiment(make_cfg("model=pca", "clusterer=gmm", *FAST, run_dir=tmp_path / "gmm"))
    table = pd.read_csv(gmm.run_dir / ASSIGNMENTS_FILE)
    proba = gmm.clustering.clusterer.predict_proba(gmm.z.astype(np.float64))
    np.testing.assert_allclose(table["probability"], proba.max(axis=1), rtol=1e-6)
    assert (proba.argmax(axis=1) == table["cluster"]).all()

    dbscan = run_experiment(make_cfg("model=pca", "clusterer=dbscan", "clusterer.eps_quantile=0.3", *FAST,
                                     run_dir=tmp_path / "dbscan"))
    table = pd.read_csv(dbscan.run_dir / ASSIGNMENTS_FILE, keep_default_na=False, na_values=[""])
    noise = table["cluster"] == -1
    assert noise.any() and (~noise).any() and "probability" not in table.columns
    assert (table.loc[noise, "cluster_name"] == "noise").all() and table.loc[noise, "distance"].isna().all()
    # elsewhere: the distance to the mean of the cluster's songs
    z = dbscan.z.astype(np.float64)
    for _, row in table[~noise].head(5).iterrows():
        centre = z[table["cluster"] == row["cluster"]].mean(axis=0)
        assert row["distance"] == pytest.approx(np.linalg.norm(z[row.name] - centre), rel=1e-6)


# -- the assignment rules ------------------------------------------------------------------------------------------
ASSIGNERS = [NearestSongAssigner(), CoreSampleAssigner(eps=1.0), CoreDistanceAssigner(min_samples=3),
             NeighbourEmbedding(n_neighbors=3)]


def assigner_checks_that_cannot_pass(estimator) -> dict[str, str]:
    if isinstance(estimator, NeighbourEmbedding):
        return {}
    return {"check_clustering": "an assigner is fitted from a clustering (the songs and their labels): it does not "
                                "cluster unlabelled data itself"}


@parametrize_with_checks(ASSIGNERS, expected_failed_checks=assigner_checks_that_cannot_pass, xfail_strict=True)
def test_the_assigners_keep_scikit_learns_estimator_contract(estimator, check):
    check(estimator)


@pytest.fixture
def blobs() -> tuple[np.ndarray, np.ndarray]:
    return make_blobs(n_samples=120, centers=[[0, 0], [6, 0], [0, 6]], cluster_std=0.6, random_state=0)


def test_nearest_song_rule_gives_the_songs_their_clusters_and_new_songs_the_nearest_ones(blobs):
    x, _ = blobs
    labels = np.random.default_rng(0).integers(0, 4, len(x))  # any partition, even one no centroid rule could give
    assigner = assigner_for(object(), x, labels)
    assert isinstance(assigner, NearestSongAssigner)
    assert (assigner.predict(x) == labels).all()
    new = x[:10] + 1e-3
    assert (assigner.predict(new) == labels[:10]).all()


def test_dbscan_rule_keeps_core_and_noise_songs_and_leaves_far_songs_as_noise(blobs):
    x, _ = blobs
    x = np.vstack([x, [[20.0, 20.0], [-15.0, 3.0]]])  # two outliers: noise
    dbscan = DBSCAN(eps=0.8, min_samples=4).fit(x)
    assigner = core_sample_assigner(dbscan, x, dbscan.labels_)
    predicted = assigner.predict(x)
    border = np.setdiff1d(np.flatnonzero(dbscan.labels_ != -1), dbscan.core_sample_indices_)
    assert (predicted == dbscan.labels_).all(), f"border songs: {border}"
    assert (predicted[-2:] == -1).all()
    assert (assigner.predict([[30.0, -30.0], [6.1, 0.1]]) == [-1, dbscan.labels_[np.argmin(
        np.linalg.norm(x - [6.1, 0.1], axis=1))]]).all()


def test_hdbscan_rule_gives_clustered_songs_their_clusters(blobs):
    x, _ = blobs
    x = np.vstack([x, [[20.0, 20.0], [-15.0, 3.0], [3.0, 3.0]]])
    hdbscan = HDBSCAN(min_cluster_size=5, copy=True).fit(x)
    assigner = assigner_for(hdbscan, x, hdbscan.labels_)
    assert isinstance(assigner, CoreDistanceAssigner)
    predicted = assigner.predict(x)
    clustered = hdbscan.labels_ != -1
    assert (predicted[clustered] == hdbscan.labels_[clustered]).all()
    assert (predicted[-3:-1] == -1).all()  # far outliers stay noise
    assert assigner.predict([[100.0, 100.0]])[0] == -1


def test_an_all_noise_run_assigns_every_new_song_to_noise(blobs):
    x, _ = blobs
    dbscan = DBSCAN(eps=1e-6, min_samples=3).fit(x)
    assert (dbscan.labels_ == -1).all()
    assert (core_sample_assigner(dbscan, x, dbscan.labels_).predict(x[:5]) == -1).all()
    assert (CoreDistanceAssigner(min_samples=5).fit(x, np.full(len(x), -1)).predict(x) == -1).all()


def test_neighbour_embedding_puts_run_songs_back_exactly_and_new_songs_between_their_neighbours(blobs):
    x, _ = blobs
    coordinates = np.random.default_rng(1).normal(size=(len(x), 3))
    embedding = NeighbourEmbedding(n_neighbors=5).fit(x, coordinates)
    np.testing.assert_array_equal(embedding.transform(x), coordinates)
    new = np.array([[0.3, 0.2]])
    distance = np.linalg.norm(x - new, axis=1)
    nearest = np.argsort(distance)[:5]
    weights = 1 / distance[nearest]
    np.testing.assert_allclose(embedding.transform(new)[0], weights @ coordinates[nearest] / weights.sum())


def test_one_hot_with_the_runs_categories_leaves_unseen_values_empty():
    encoded, categories = one_hot(pd.Series(["bn", "fr", None]), categories=["bn", "en", "unknown"])
    assert categories == ["bn", "en", "unknown"]
    np.testing.assert_array_equal(encoded, [[1, 0, 0], [0, 0, 0], [0, 0, 1]])
