"""Reducers before clustering (none | pca | umap) and the gmm / hdbscan clusterers."""

import numpy as np
import pandas as pd
import pytest

from musiclust.clustering.reducers import NoReducer, PCAReducer, UMAPReducer, reduces
from musiclust.pipeline import run_experiment

QUICK = ("~outputs.projections", "~outputs.distributions")


def blobs(n_per: int = 30, dims: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 6, (3, dims))
    return np.vstack([rng.normal(c, 1.0, (n_per, dims)) for c in centers]), np.repeat(np.arange(3), n_per)


def test_pca_reducer_bounds_and_keeps_the_leading_directions():
    z, _ = blobs()
    assert PCAReducer(n_components=4).fit_transform(z).shape == (90, 4)
    assert PCAReducer(n_components=50).fit_transform(z).shape == (90, 12)  # bounded by the embedding dim
    assert PCAReducer(n_components=50).fit_transform(z[:5]).shape == (5, 5)  # ... and by the songs
    np.testing.assert_array_equal(NoReducer().fit_transform(z), z)
    assert not reduces(NoReducer()) and reduces(PCAReducer())


def test_umap_reducer_is_seeded_bounded_and_keeps_clusters_apart():
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    z, truth = blobs()
    a = UMAPReducer(n_components=3, n_neighbors=200, random_state=1).fit_transform(z)
    b = UMAPReducer(n_components=3, n_neighbors=200, random_state=1).fit_transform(z)
    assert a.shape == (90, 3)  # n_neighbors bounded by N − 1 instead of failing
    np.testing.assert_allclose(a, b)
    assert adjusted_rand_score(truth, KMeans(3, n_init=5, random_state=0).fit_predict(a)) == pytest.approx(1.0)


@pytest.mark.parametrize("overrides, clusterer", [
    (["model=pca", "clusterer=gmm", "clusterer.covariance_type=full", "model.latent_dim=4"], "gmm"),
    (["model=pca", "clusterer=hdbscan", "model.latent_dim=4"], "hdbscan"),
])
def test_gmm_and_hdbscan_clusterers(make_cfg, tmp_path, overrides, clusterer):
    result = run_experiment(make_cfg(*overrides, *QUICK))
    row = pd.read_csv(tmp_path / "run" / "clustering_metrics.csv").iloc[0]
    assert row["clusterer"] == clusterer
    if clusterer == "gmm":
        assert row["k"] == 6 and 2 <= row["n_clusters_found"] <= 6 and row["nmi"] > 0.4
    else:  # density-based: finds its own number of clusters, noise is −1 and counted
        assert pd.isna(row["k"]) and row["n_noise"] == int((result.clusters == -1).sum())
        assert set(np.unique(result.clusters)) <= {-1, *range(row["n_clusters_found"])}


def test_pca_reducer_in_a_run(make_cfg, tmp_path):
    result = run_experiment(make_cfg("model=raw", "reducer=pca", "reducer.n_components=3", *QUICK))
    row = pd.read_csv(tmp_path / "run" / "clustering_metrics.csv").iloc[0]
    assert row["reducer"] == "pca" and row["latent_dims"] == 80  # internal metrics stay in the embedding space
    assert np.isfinite(row["silhouette_reduced"]) and row["silhouette_reduced"] != row["silhouette"]
    assert result.z.shape == (36, 80)


def test_n2d_umap_then_gmm(make_cfg, tmp_path):
    result = run_experiment(make_cfg("model=pca", "reducer=umap", "clusterer=gmm", "reducer.n_neighbors=10", *QUICK))
    row = pd.read_csv(tmp_path / "run" / "clustering_metrics.csv").iloc[0]
    assert row["reducer"] == "umap" and row["clusterer"] == "gmm"
    assert row["nmi"] > 0.4 and row["acc"] > row["acc_random"]
    assert np.isfinite(row["silhouette_reduced"])
    assert result.z.shape[1] == row["latent_dims"]
