"""End-to-end runs on the tiny demo set: the files and numbers a user looks at."""

import numpy as np
import pandas as pd
import pytest

from musiclust.pipeline import run_experiment


def test_default_vae_run_writes_every_output(make_cfg, tmp_path):
    result = run_experiment(make_cfg())
    run = tmp_path / "run"
    metrics = pd.read_csv(run / "clustering_metrics.csv")
    assert len(metrics) == 1
    row = metrics.iloc[0]
    assert row["model"] == "vae" and row["feature"] == "mfcc" and row["clusterer"] == "kmeans"
    for key in ("silhouette", "calinski_harabasz", "davies_bouldin", "ari", "nmi", "purity"):
        assert np.isfinite(row[key]), key
    latents = np.load(run / "latents.npz")
    assert set(latents.files) == {"z", "ids", "clusters", "mean", "std"}
    assert latents["z"].shape == (36, 16) and len(latents["ids"]) == 36
    np.testing.assert_array_equal(latents["clusters"], result.clusters)
    assert (run / "latent_visualization" / "vae_kmeans_tsne.png").stat().st_size > 1000
    for col in ("genre", "language"):
        assert (run / "cluster_distributions" / f"clusters_by_{col}.png").exists()
    assert (run / "reconstructions" / "recon_examples.png").exists()
    assert (run / "logs" / "metrics.csv").exists()


def test_pca_finds_genres_well_above_chance(make_cfg):
    result = run_experiment(make_cfg("model=pca"))
    assert result.metrics["nmi"] > 0.4
    assert result.z.shape[1] <= 32


def test_pca_dims_bounded_by_songs(make_cfg):
    result = run_experiment(make_cfg("model=pca", "model.latent_dim=100", "feature.n_mfcc=4", "k=3"))
    assert result.z.shape[1] == 16  # 4·n_mfcc = 16 inputs < 32 < N−1


def test_raw_is_the_standardised_features(make_cfg):
    result = run_experiment(make_cfg("model=raw"))
    assert result.z.shape == (36, 80)
    np.testing.assert_allclose(result.z.mean(axis=0), 0, atol=1e-4)


def test_same_seed_same_clusters(make_cfg, tmp_path):
    a = run_experiment(make_cfg("seed=7", run_dir=tmp_path / "a"))
    b = run_experiment(make_cfg("seed=7", run_dir=tmp_path / "b"))
    np.testing.assert_array_equal(a.clusters, b.clusters)
    np.testing.assert_allclose(a.z, b.z, rtol=1e-5, atol=1e-6)


def test_k_auto_uses_number_of_classes(make_cfg):
    result = run_experiment(make_cfg("model=pca", "k=auto", "label_col=language"))
    assert result.settings["k"] == 2 and result.metrics["n_clusters_found"] == 2


def test_lyrics_feature_separates_languages(make_cfg):
    result = run_experiment(make_cfg("feature=lyrics_tfidf", "model=pca", "k=2", "label_col=language"))
    assert result.metrics["nmi"] > 0.9


@pytest.mark.parametrize("override, message", [
    ("label_col=mood", "label_col='mood' is not a column"),
    ("k=100", "k=100 is larger than the number of songs (36)"),
    ("k=1", "k=1: must be an integer ≥ 2"),
])
def test_bad_settings_raise_clear_errors(make_cfg, override, message):
    from musiclust.errors import MusiclustError

    with pytest.raises(MusiclustError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_experiment(make_cfg("model=pca", override))


def test_cublas_workspace_is_fixed_before_cuda_is_used(monkeypatch):
    """Deterministic cuBLAS needs CUBLAS_WORKSPACE_CONFIG before CUDA starts (PyTorch reproducibility notes)."""
    import torch

    from musiclust.training.fit import make_deterministic

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    make_deterministic()
    import os

    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] in (":4096:8", ":16:8")
