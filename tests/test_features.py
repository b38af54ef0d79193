"""Features: the on-disk cache, the hybrid/multimodal features, and audio that is not the demo's format."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from omegaconf import OmegaConf

from musiclust.data.demo import DemoDataset
from musiclust.data.manifest import song_keys
from musiclust.features import HybridFeature, MultimodalFeature
from musiclust.features.audio import AudioFeature
from musiclust.features.base import FeatureCache, FeatureSet
from musiclust.instantiate import build
from musiclust.pipeline import run_experiment
from tests.conftest import TINY_DEMO, compose_config
from tests.test_matrix import FAST_HYBRID, LEAN, NO_RECON


def _no_more_computing(monkeypatch, *classes):
    def refuse(self, manifest, *args):
        raise AssertionError(f"{type(self).__name__} recomputed features that are in the cache")

    for cls in classes:
        for method in ("compute", "compute_batches", "compute_from"):  # whole collections, store batches, composites
            monkeypatch.setattr(cls, method, refuse)


def _metrics(run_dir):
    return pd.read_csv(run_dir / "clustering_metrics.csv").iloc[0]


def test_rerun_loads_features_from_cache(make_cfg, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = run_experiment(make_cfg("model=pca", *LEAN, run_dir=tmp_path / "a", cache_dir=cache))
    assert not _metrics(tmp_path / "a")["features_from_cache"]
    _no_more_computing(monkeypatch, AudioFeature)
    second = run_experiment(make_cfg("model=pca", *LEAN, run_dir=tmp_path / "b", cache_dir=cache))
    assert _metrics(tmp_path / "b")["features_from_cache"]
    assert (_metrics(tmp_path / "b")[["features_computed", "features_loaded"]] == [0, 36]).all()
    np.testing.assert_array_equal(first.clusters, second.clusters)


def test_hybrid_rerun_is_cached_and_gives_the_same_clusters(make_cfg, tmp_path, monkeypatch):
    """The audio VAE runs only once, and training it must not shift the main model's random stream."""
    cache = tmp_path / "cache"
    overrides = ("feature=hybrid", *FAST_HYBRID, *LEAN, *NO_RECON)
    first = run_experiment(make_cfg(*overrides, run_dir=tmp_path / "a", cache_dir=cache))
    assert not _metrics(tmp_path / "a")["features_from_cache"]
    _no_more_computing(monkeypatch, HybridFeature, AudioFeature)
    monkeypatch.setattr(HybridFeature, "embed_audio", lambda *a: pytest.fail("audio VAE retrained"))
    second = run_experiment(make_cfg(*overrides, run_dir=tmp_path / "b", cache_dir=cache))
    assert _metrics(tmp_path / "b")["features_from_cache"]
    np.testing.assert_array_equal(first.z, second.z)
    np.testing.assert_array_equal(first.clusters, second.clusters)


def test_hybrid_cache_key_covers_the_audio_model(make_cfg):
    feature = make_cfg("feature=hybrid").feature

    def key(**changes):
        node = feature.copy()
        for name, value in changes.items():
            OmegaConf.update(node, name.replace("__", "."), value)
        return FeatureCache.key("dataset", build(node).cache_config())

    base = key()
    assert key(n_jobs=2) == base  # how it is computed is not what it computes
    for change in ({"audio_embedding__model__latent_dim": 8}, {"audio_embedding__model__beta": 4.0},
                   {"audio_embedding__backbone__hidden_dims": [64]}, {"audio_embedding__trainer__max_epochs": 7},
                   {"audio_embedding__batch_size": 16}, {"audio__n_mfcc": 13}, {"lyrics__ngram_range": [2, 4]},
                   {"svd_dims": 8}, {"audio_weight": 2.0}, {"seed": 1}):
        assert key(**change) != base, change


def test_audio_embedding_is_deterministic_per_seed(make_cfg):
    values = np.random.default_rng(0).normal(size=(40, 12)).astype(np.float32)
    audio = FeatureSet(values, [f"s{i}" for i in range(40)])

    def embed(seed):
        return build(make_cfg("feature=hybrid", *FAST_HYBRID, f"seed={seed}").feature).embed_audio(audio)

    a, b, c = embed(1), embed(1), embed(2)
    assert a.shape == (40, 16)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.fixture
def messy_manifest(demo_root):
    """The tiny demo with one missing audio file, one empty lyric and three songs without a genre."""
    manifest = DemoDataset(root=str(demo_root), **TINY_DEMO).load()
    manifest.loc[0, "audio_path"] = str(demo_root / "audio" / "gone.wav")
    manifest.loc[1, "lyrics"] = " "
    manifest.loc[2:4, "genre"] = np.nan
    return manifest


def test_multimodal_one_hot_and_skips(make_cfg, messy_manifest):
    extractor = build(make_cfg("feature=multimodal", *FAST_HYBRID, "feature.svd_dims=10").feature)
    assert isinstance(extractor, MultimodalFeature)
    features = extractor.compute(messy_manifest)
    skipped = features.skipped.set_index("id")
    assert set(skipped.index) == {"song_0000", "song_0001"}
    assert "missing file" in skipped.loc["song_0000", "reason"] and "empty lyrics" in skipped.loc["song_0001", "reason"]
    assert list(features.ids) == list(messy_manifest["id"][2:])
    categories = sorted(set(messy_manifest["genre"].dropna())) + ["unknown"]
    assert features.values.shape == (34, 10 + len(categories))
    one_hot = features.values[:, -len(categories):]
    np.testing.assert_array_equal(one_hot.sum(axis=1), 1.0)
    unknown = one_hot[:, categories.index("unknown")] == 1
    assert list(features.ids[unknown]) == ["song_0002", "song_0003", "song_0004"]


def _write_real_format_audio(root):
    """Different containers, rates, channel counts and lengths; one silent and one too-short file."""
    rng = np.random.default_rng(3)
    rows = []

    def tone(seconds, sr, freqs, channels=1):
        t = np.arange(int(seconds * sr)) / sr
        mono = sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs)
        mono = 0.5 * mono * (0.6 + 0.4 * np.sin(2 * np.pi * 1.5 * t))
        return np.stack([mono, 0.8 * mono], axis=1) if channels == 2 else mono

    def noise(seconds, sr, channels=1):
        burst = rng.standard_normal((int(seconds * sr), channels)) * 0.3
        burst *= (np.arange(len(burst)) % (sr // 4) < sr // 16)[:, None]  # clicks four times a second
        return burst[:, 0] if channels == 1 else burst

    specs = [  # name, kind, signal, sr, format options
        ("a.flac", "tonal", tone(3.0, 44100, [220, 330], 2), 44100, {"subtype": "PCM_24"}),
        ("b.wav", "tonal", tone(1.2, 48000, [440]), 48000, {"subtype": "FLOAT"}),
        ("c.ogg", "tonal", tone(5.0, 16000, [262, 330, 392]), 16000, {"format": "OGG", "subtype": "VORBIS"}),
        ("d.mp3", "tonal", tone(2.5, 44100, [196, 294], 2), 44100, {"format": "MP3"}),
        ("e.flac", "noisy", noise(4.0, 44100, 2), 44100, {}),
        ("f.wav", "noisy", noise(2.0, 8000), 8000, {"subtype": "PCM_U8"}),
        ("g.ogg", "noisy", noise(3.0, 22050), 22050, {"format": "OGG", "subtype": "VORBIS"}),
        ("h.mp3", "noisy", noise(6.0, 32000), 32000, {"format": "MP3"}),
        ("silent.wav", "noisy", np.zeros(44100), 44100, {}),
        ("short.wav", "tonal", tone(0.2, 22050, [440]), 22050, {}),
    ]
    for name, kind, signal, sr, options in specs:
        sf.write(root / name, signal, sr, **options)
        rows.append({"id": name.split(".")[0], "audio_path": name, "kind": kind})
    pd.DataFrame(rows).to_csv(root / "songs.csv", index=False)
    return root / "songs.csv"


def test_vae_on_real_format_audio(tmp_path):
    """WAV/FLAC/OGG/MP3 at 8-48 kHz, mono and stereo, 1-6 s: nothing depends on the demo's format."""
    audio_dir = tmp_path / "songs"
    audio_dir.mkdir()
    manifest = _write_real_format_audio(audio_dir)
    cfg = compose_config([
        "dataset=manifest", f"dataset.path={manifest}", "label_col=kind", "k=2", "plot_columns=[kind]",
        "max_skip_fraction=0.25", "feature=logmelspec", "feature.n_jobs=1", "backbone=conv2d", "batch_size=4",
        f"paths.cache_dir={tmp_path / 'cache'}", "trainer.enable_progress_bar=false", *LEAN, "trainer.max_epochs=3",
    ], tmp_path / "run")
    result = run_experiment(cfg)
    assert sorted(result.ids) == list("abcdefgh")
    assert result.z.shape == (8, 16) and np.all(np.isfinite(result.z))
    skipped = pd.read_csv(tmp_path / "run" / "skipped.csv").set_index("id")["reason"]
    assert skipped["silent"].startswith("silent audio") and skipped["short"].startswith("too short")
    assert result.metrics["n_skipped"] == 2 and (tmp_path / "run" / "reconstructions" / "recon_examples.png").exists()
    assert len(set(song_keys(pd.read_csv(manifest), audio=True))) == 10  # the manifest itself is ordinary CSV


@pytest.mark.parametrize("seconds, windows", [(0.6, 1), (2.0, 2), (9.0, 7)])
def test_time_frequency_maps_cover_the_whole_track_in_windows(seconds, windows):
    from musiclust.features import LogMelSpec, MFCCFrames

    signal = np.sin(2 * np.pi * 440 * np.arange(int(seconds * 22050)) / 22050).astype(np.float32)
    assert LogMelSpec(n_mels=32, frames=64).from_signal(signal).shape == (windows, 1, 32, 64)
    assert MFCCFrames(n_mfcc=13, frames=64).from_signal(signal).shape == (windows, 1, 13, 64)
    assert LogMelSpec(n_mels=32, frames=64, max_windows=2).from_signal(signal).shape == (min(windows, 2), 1, 32, 64)


def test_windows_tile_every_frame_and_the_last_ends_with_the_track():
    from musiclust.features.audio import track_windows

    matrix = np.arange(3 * 300, dtype=np.float32).reshape(3, 300)  # frame t holds t in row 0
    windows = track_windows(matrix, 128)
    starts = [int(w[0, 0]) for w in windows]
    assert starts == [0, 128, 172]  # consecutive; the last one aligned to the end (overlapping)
    covered = set(np.concatenate([w[0] for w in windows]).astype(int))
    assert covered == set(range(300))
    thinned = track_windows(matrix, 10, max_windows=4)
    assert [int(w[0, 0]) for w in thinned] == [0, 100, 190, 290]  # evenly spaced over the track


def test_a_short_clip_is_padded_with_each_rows_own_mean():
    from musiclust.features.audio import track_windows

    matrix = np.array([[-500.0, -400.0], [10.0, 30.0]], dtype=np.float32)  # c0 on another scale than c1
    padded = track_windows(matrix, 5)[0]
    np.testing.assert_array_equal(padded[0], [-500, -400, -450, -450, -450])
    np.testing.assert_array_equal(padded[1], [10, 30, 20, 20, 20])


def test_a_long_song_is_embedded_from_all_of_its_windows(tmp_path, shared_cache):
    """A 60-s song whose second half differs from its first: its embedding is the mean over every window."""
    sr = 22050
    t = np.arange(60 * sr) / sr
    song = np.where(t < 30, np.sin(2 * np.pi * 220 * t), 0.3 * np.random.default_rng(0).standard_normal(t.size))
    rows = []
    for i, seconds in enumerate([60, 10, 4, 4, 2, 1]):
        path = tmp_path / f"s{i}.flac"
        sf.write(path, (0.5 * song[: seconds * sr]).astype(np.float32), sr)
        rows.append({"id": f"s{i}", "audio_path": path.name, "genre": "a" if i % 2 else "b"})
    pd.DataFrame(rows).to_csv(tmp_path / "songs.csv", index=False)
    cfg = compose_config(["dataset=manifest", f"dataset.path={tmp_path / 'songs.csv'}", "dataset.label_columns=[genre]",
                          f"paths.cache_dir={shared_cache}", "feature=logmelspec", "model=raw", "k=2",
                          "feature.n_jobs=1", "~outputs.projections"], tmp_path / "run")
    result = run_experiment(cfg)
    dm = result.datamodule
    frames = [int(np.ceil((seconds * sr / 512 + 1) / 128)) for seconds in (60, 10, 4, 4, 2, 1)]
    assert np.diff(dm.offsets).tolist() == frames  # 60 s → 21 windows of 128 frames, not one 3-s crop
    first = dm.features[dm.offsets[0]:dm.offsets[1]].reshape(frames[0], -1)
    np.testing.assert_allclose(result.z[0], first.mean(axis=0), rtol=1e-4, atol=1e-4)
    second_half = dm.features[dm.offsets[0] + frames[0] // 2 + 1:dm.offsets[1]]
    first_half = dm.features[dm.offsets[0]:dm.offsets[0] + frames[0] // 2 - 1]
    assert not np.allclose(first_half.mean(axis=0), second_half.mean(axis=0), atol=0.5)  # both halves are in it


def test_lyrics_tfidf_prefers_cleaned_lyrics_and_reads_bengali():
    from musiclust.features import LyricsTfidf

    manifest = pd.DataFrame({
        "id": ["a", "b", "c", "d"],
        "lyrics": ["[Chorus] x", "[Chorus] y", "[Chorus] z", "[Chorus] w"],
        "lyrics_clean": ["আমি তুমি ভালোবাসা", "আমি তুমি ভালোবাসা গান", "neon dance city", "neon dance city pulse"],
    })
    extractor = LyricsTfidf(min_df=1, svd_dims=None)
    extractor.check_manifest(manifest)
    values = extractor.compute(manifest).values
    similarity = values @ values.T  # rows are L2-normalised
    assert similarity[0, 1] > 0.5 and similarity[2, 3] > 0.5  # same words in either script
    assert similarity[0, 2] < 0.05  # "[Chorus]" (only in the raw lyrics) is not what was read
