"""Reducers before clustering (none | pca | umap) and the gmm / hdbscan clusterers."""

import logging

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


def test_umap_reducer_is_seeded_bounded_and_keeps_clusters_apart(caplog):
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    z, truth = blobs()
    bounded = UMAPReducer(n_components=3, n_neighbors=200, random_state=1)
    with caplog.at_level(logging.WARNING):
        a = bounded.fit_transform(z)
    b = UMAPReducer(n_components=3, n_neighbors=200, random_state=1).fit_transform(z)
    assert a.shape == (90, 3)  # n_neighbors bounded by N − 1 instead of failing, with a warning
    assert bounded.n_neighbors_ == 89 and bounded.used_params_ == {"reducer_n_components": 3, "reducer_n_neighbors": 89}
    assert any(r.getMessage().startswith("reducer.n_neighbors=200 but each of the 90 songs has 89 others: using 89")
               for r in caplog.records)
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
    assert result.z.shape == (36, 80) and row["reducer_n_components"] == 3


def test_values_bounded_by_the_data_reach_the_metrics_file(make_cfg, tmp_path, caplog):
    """PCA's latent_dim above its cap of 32 and a reducer asking for more dims than the embedding has are lowered
    with a warning each, and the values used are columns of clustering_metrics.csv (so are DBSCAN's)."""
    overrides = ("model=pca", "model.latent_dim=40", "reducer=pca", "reducer.n_components=50", "clusterer=dbscan",
                 "clusterer.min_samples=3", *QUICK)
    with caplog.at_level(logging.WARNING):
        result = run_experiment(make_cfg(*overrides))
    row = pd.read_csv(tmp_path / "run" / "clustering_metrics.csv").iloc[0]
    assert row["latent_dim"] == 40 and row["latent_dims"] == 32 and result.z.shape == (36, 32)
    assert row["reducer_n_components"] == 32
    assert row["clusterer_min_samples"] == 3 and row["clusterer_eps"] > 0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("model.latent_dim=40 is more than PCA can give here: using 32") for m in warned)
    assert any(m.startswith("reducer.n_components=50 but the embedding has 32 dims and 36 songs: using 32")
               for m in warned)


def test_n2d_umap_then_gmm(make_cfg, tmp_path):
    result = run_experiment(make_cfg("model=pca", "reducer=umap", "clusterer=gmm", "reducer.n_neighbors=10", *QUICK))
    row = pd.read_csv(tmp_path / "run" / "clustering_metrics.csv").iloc[0]
    assert row["reducer"] == "umap" and row["clusterer"] == "gmm"
    assert row["nmi"] > 0.4 and row["acc"] > row["acc_random"]
    assert np.isfinite(row["silhouette_reduced"])
    assert result.z.shape[1] == row["latent_dims"]
