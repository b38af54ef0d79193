"""Normalisation belongs to the feature: each policy on constructed data, and what it does to the demo's scores."""

import numpy as np
import pandas as pd
import pytest

from musiclust.errors import ConfigError
from musiclust.features.normalize import Normalizer, blocks, describe, resolve
from musiclust.pipeline import run_experiment
from tests.conftest import compose_config


def test_standard_vectors_are_z_scored_per_column():
    rng = np.random.default_rng(0)
    values = rng.normal([5.0, -3.0, 100.0], [1.0, 10.0, 0.1], size=(500, 3)).astype(np.float32)
    out = Normalizer("standard").fit_transform(values)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-4)


def test_streaming_statistics_match_numpy_on_more_rows_than_a_chunk():
    rng = np.random.default_rng(1)
    values = (1e4 + rng.standard_normal((10_000, 4))).astype(np.float32)  # large offset, several chunks
    fitted = Normalizer("standard").fit(values)
    np.testing.assert_allclose(fitted.mean_, values.astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(fitted.scale_, values.astype(np.float64).std(axis=0), rtol=1e-9)


def test_maps_are_standardised_per_band_so_their_time_structure_survives():
    """A rhythm every song shares (a ramp in time in one band) must survive; a per-element z-score
    (each (band, frame) cell on its own over songs) would flatten it to noise."""
    rng = np.random.default_rng(2)
    n_songs, n_bands, n_frames = 64, 3, 40
    ramp = np.linspace(-1.0, 1.0, n_frames)
    maps = rng.normal(0.0, 0.05, size=(n_songs, 1, n_bands, n_frames)) + rng.normal(0, 1, (n_songs, 1, n_bands, 1))
    maps[:, 0, 1, :] += 10.0 * ramp  # band 1 rises in time in every song
    out = Normalizer("standard").fit_transform(maps.astype(np.float32))
    # one mean and one scale per (channel, band): over songs and time
    assert np.asarray(Normalizer("standard").fit(maps).mean_).shape == (1, n_bands, 1)
    correlation = [np.corrcoef(out[i, 0, 1], ramp)[0, 1] for i in range(n_songs)]
    assert min(correlation) > 0.99
    band = out[:, 0, :, :].transpose(1, 0, 2).reshape(n_bands, -1)
    np.testing.assert_allclose(band.mean(axis=1), 0, atol=1e-4)
    np.testing.assert_allclose(band.std(axis=1), 1, atol=1e-3)


def test_l2_rows_have_unit_length_and_keep_their_direction():
    values = np.array([[3.0, 4.0], [0.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
    out = Normalizer("l2").fit_transform(values)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0], [-1.0, 0.0]], atol=1e-6)


def test_blocks_contribute_as_their_weights_whatever_their_width():
    rng = np.random.default_rng(3)
    narrow, wide = rng.normal(0, 50.0, (200, 2)), rng.normal(0, 0.01, (200, 300))
    spec = blocks(("narrow", 2, "standard", 1.0), ("wide", 300, "standard", 3.0))
    out = Normalizer(spec).fit_transform(np.hstack([narrow, wide]))
    np.testing.assert_allclose(np.linalg.norm(out[:, :2], axis=1).mean(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out[:, 2:], axis=1).mean(), 3.0, rtol=1e-5)


def test_one_hot_block_stays_zero_one():
    one_hot = np.eye(3)[[0, 1, 2, 1, 0]]
    embedding = np.random.default_rng(4).normal(size=(5, 4))
    spec = blocks(("embedding", 4, "center", 1.0), ("genre", 3, "none", 1.0))
    out = Normalizer(spec).fit_transform(np.hstack([embedding, one_hot]))
    np.testing.assert_array_equal(out[:, 4:], one_hot)
    assert describe(spec) == "embedding:center×1 | genre:none×1"


def test_a_run_may_override_the_feature_policy():
    assert resolve("l2", "auto") == "l2"
    assert resolve("l2", None) == "l2"
    assert resolve("l2", "standard") == "standard"
    with pytest.raises(ConfigError, match="normalization='zscore'.*standard, center, l2, none"):
        resolve("l2", "zscore")


# -- the demo: what the policies do to the scores (these floors failed with the old global z-score) ------------
@pytest.fixture(scope="module")
def lyrics_csv(tmp_path_factory):
    """180 songs' lyrics as the demo writes them (English/Bangla, six genres), without audio."""
    from musiclust.data.demo import GENRES, LANGUAGES, synthesise_lyrics

    rng = np.random.default_rng(0)
    rows = []
    for i in range(180):
        genre, language = list(GENRES)[i % len(GENRES)], LANGUAGES[int(rng.random() < 0.5)]
        rows.append({"id": f"song_{i:03d}", "lyrics": synthesise_lyrics(genre, language, np.random.default_rng([0, i])),
                     "language": language, "genre": genre})
    path = tmp_path_factory.mktemp("lyrics") / "lyrics.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_lyrics_separate_languages_with_raw_features_and_kmeans(lyrics_csv, shared_cache, tmp_path):
    """The LSA recipe (rows to unit length): z-scoring the 128 SVD columns gave NMI 0.25 here."""
    result = run_experiment(compose_config([
        "dataset=manifest", f"dataset.path={lyrics_csv}", "dataset.audio_col=null", "dataset.label_columns=[language]",
        f"paths.cache_dir={shared_cache}", "feature=lyrics_tfidf", "model=raw", "k=2", "label_col=language",
        "~outputs.projections"], tmp_path / "run"))
    assert result.settings["normalization"] == "l2"
    assert result.metrics["nmi"] >= 0.95
    metrics = pd.read_csv(tmp_path / "run" / "clustering_metrics.csv").iloc[0]
    assert metrics["normalization"] == "l2"


def test_hybrid_keeps_its_block_weights(make_cfg):
    """Hybrid's SVD coordinates used as they are (NMI 0.84 on the tiny demo; z-scored as before: 0.62)."""
    result = run_experiment(make_cfg("feature=hybrid", "model=raw", "~outputs.projections"))
    assert result.settings["normalization"] == "none"
    assert result.metrics["nmi"] >= 0.75


def test_old_global_z_score_is_still_available_on_request(make_cfg):
    result = run_experiment(make_cfg("feature=lyrics_tfidf", "model=raw", "k=2", "label_col=language",
                                     "normalization=standard"))
    assert result.settings["normalization"] == "standard"
    np.testing.assert_allclose(result.z.std(axis=0), 1.0, atol=1e-3)
