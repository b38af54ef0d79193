"""The seed matrix: every feature × model × backbone that makes sense, each clusterer, and the
combinations that cannot work (one clear error naming both options, before any training)."""

import numpy as np
import pandas as pd
import pytest

from musiclust.errors import ConfigError, DataError, MusiclustError
from musiclust.pipeline import run_experiment

#: plots that cost seconds per run are covered by tests/test_pipeline.py (reconstructions: two cases here)
LEAN = ("~outputs.projections", "~outputs.distributions", "~callbacks.model_checkpoint",
        "trainer.max_epochs=2")
NO_RECON = ("~outputs.reconstructions",)
FAST_HYBRID = ("feature.audio_embedding.trainer.max_epochs=2",)

COMBINATIONS = [
    # feature, model, backbone, extra overrides
    ("mfcc", "beta_vae", "mlp", ()),  # vector reconstructions drawn as lines
    ("mfcc", "cvae", "mlp", NO_RECON),
    ("mfcc", "ae", "mlp", NO_RECON),
    ("lyrics_tfidf", "vae", "mlp", ("label_col=language", "k=2", *NO_RECON)),
    ("mfcc_frames", "vae", "conv2d", NO_RECON),
    ("logmelspec", "cvae", "conv2d", ()),  # map reconstructions drawn as heatmaps
    ("logmelspec", "vae", "mlp", ("backbone.flatten=true", *NO_RECON)),
    ("logmelspec", "pca", "mlp", ()),
    ("mfcc_frames", "raw", "mlp", ()),
    ("hybrid", "vae", "mlp", (*FAST_HYBRID, *NO_RECON)),
    ("multimodal", "pca", "mlp", FAST_HYBRID),
    pytest.param("logmelspec", "ae", "conv2d", (), marks=pytest.mark.slow),
    pytest.param("mfcc_frames", "beta_vae", "conv2d", (), marks=pytest.mark.slow),
    pytest.param("hybrid", "cvae", "mlp", FAST_HYBRID, marks=pytest.mark.slow),
    pytest.param("multimodal", "ae", "mlp", FAST_HYBRID, marks=pytest.mark.slow),
    pytest.param("lyrics_tfidf", "raw", "mlp", (), marks=pytest.mark.slow),
]


@pytest.mark.parametrize("feature, model, backbone, extra", COMBINATIONS)
def test_combination_runs_end_to_end(make_cfg, tmp_path, feature, model, backbone, extra):
    cfg = make_cfg(f"feature={feature}", f"model={model}", f"backbone={backbone}", *LEAN, *extra)
    result = run_experiment(cfg)
    run = tmp_path / "run"
    row = pd.read_csv(run / "clustering_metrics.csv").iloc[0]
    assert (row["feature"], row["model"]) == (feature, model)
    neural = model not in ("pca", "raw")
    assert row["backbone"] == backbone if neural else pd.isna(row["backbone"])  # baselines use no backbone
    n_songs = 36
    assert result.z.shape[0] == n_songs and np.all(np.isfinite(result.z))
    if neural:
        assert result.z.shape[1] == cfg.model.latent_dim
    for key in ("silhouette", "ari", "nmi", "purity"):
        assert np.isfinite(row[key]), key
    assert row["n_clusters_found"] == cfg.k
    draws = neural and "~outputs.reconstructions" not in extra
    assert (run / "reconstructions" / "recon_examples.png").exists() == draws
    if neural:
        logged = pd.read_csv(run / "logs" / "metrics.csv")
        assert "train/recon" in logged.columns
        # per-dimension KL and active dims for the variational models only
        assert ("kl_dim/00" in logged.columns) == ("train/active_dims" in logged.columns) == (model != "ae")


def test_cvae_is_conditioned_on_its_column(make_cfg):
    cfg = make_cfg("model=cvae", "model.cond_col=artist", *LEAN)
    result = run_experiment(cfg)
    n_artists = result.manifest["artist"].nunique()
    assert result.datamodule.conditions.shape == (36, n_artists)
    np.testing.assert_array_equal(result.datamodule.conditions.sum(axis=1), 1.0)


@pytest.mark.parametrize("clusterer", ["kmeans", "agglomerative", "spectral"])
def test_k_based_clusterers_find_k_groups(make_cfg, clusterer):
    result = run_experiment(make_cfg("model=pca", f"clusterer={clusterer}", *LEAN))
    assert result.metrics["n_clusters_found"] == 6 and result.metrics["n_noise"] == 0
    assert result.metrics["nmi"] > 0.3  # the tiny demo's genres are audible in MFCCs


def test_dbscan_reports_noise_and_scores_the_rest(make_cfg, tmp_path):
    result = run_experiment(make_cfg("model=pca", "clusterer=dbscan", "clusterer.min_samples=3", *LEAN))
    clusters, metrics = result.clusters, result.metrics
    assert metrics["n_noise"] == int((clusters == -1).sum()) > 0
    assert metrics["n_clusters_found"] == len(set(clusters.tolist()) - {-1}) >= 2
    assert "noise" in set(result.cluster_names())
    assert np.isfinite(metrics["silhouette"]) and np.isfinite(metrics["nmi"])
    row = pd.read_csv(tmp_path / "run" / "clustering_metrics.csv").iloc[0]
    assert pd.isna(row["k"]) and row["n_noise"] == metrics["n_noise"]  # k does not apply to DBSCAN


INVALID = [
    # overrides, error class, every piece of the message (all raised before any training)
    (("feature=mfcc", "backbone=conv2d"), ConfigError, ["backbone=conv2d", "feature=mfcc", "backbone=mlp"]),
    (("feature=hybrid", "backbone=conv2d", *FAST_HYBRID), ConfigError, ["backbone=conv2d", "feature=hybrid"]),
    (("feature=logmelspec", "backbone=mlp"), ConfigError,
     ["backbone=mlp", "feature=logmelspec", "backbone.flatten=true", "backbone=conv2d"]),
    (("model=cvae", "model.cond_col=null"), ConfigError, ["model=cvae", "model.cond_col"]),
    (("model=cvae", "model.cond_col=mood"), DataError, ["model.cond_col='mood' is not a column"]),
    (("feature=multimodal", "feature.metadata_col=mood", *FAST_HYBRID), DataError,
     ["feature=multimodal", "feature.metadata_col=mood", "['mood']"]),
    (("model=pca", "clusterer=dbscan", "clusterer.eps_quantile=0"), ConfigError, ["clusterer.eps_quantile=0"]),
]


@pytest.mark.parametrize("overrides, error, pieces", INVALID)
def test_invalid_combination_fails_with_one_clear_error(make_cfg, tmp_path, overrides, error, pieces):
    with pytest.raises(error) as info:
        run_experiment(make_cfg(*overrides, *LEAN))
    assert isinstance(info.value, MusiclustError)
    for piece in pieces:
        assert piece in str(info.value), str(info.value)
    assert not (tmp_path / "run" / "logs").exists()  # failed before training


def test_spectral_needs_fewer_neighbours_than_songs(make_cfg):
    with pytest.raises(ConfigError, match=r"clusterer\.n_neighbors=36 needs more songs than the 36"):
        run_experiment(make_cfg("model=pca", "clusterer=spectral", "clusterer.n_neighbors=36", *LEAN))


def test_hybrid_audio_backbone_must_fit_the_audio_feature(make_cfg):
    overrides = ("feature=hybrid", "feature@feature.audio=logmelspec", *FAST_HYBRID, *LEAN)
    with pytest.raises(ConfigError, match=r"feature\.audio_embedding\.backbone=mlp .*feature\.audio=logmelspec"):
        run_experiment(make_cfg(*overrides))


def test_dbscan_radius_follows_the_embedding_scale():
    from sklearn.datasets import make_blobs

    from musiclust.clustering.estimators import DBSCAN

    z, truth = make_blobs(n_samples=120, n_features=8, centers=3, random_state=0)
    small, large = DBSCAN(min_samples=5).fit(z), DBSCAN(min_samples=5).fit(z * 100)
    assert large.eps_ == pytest.approx(100 * small.eps_)
    np.testing.assert_array_equal(small.labels_, large.labels_)
    found = small.labels_ != -1
    assert len(set(small.labels_[found])) == 3 and found.mean() > 0.5
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(truth[found], small.labels_[found]) > 0.95
    assert DBSCAN(eps=0.01, min_samples=5).fit(z).eps_ == 0.01  # an explicit radius is used as given
