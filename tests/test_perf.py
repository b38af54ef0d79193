"""The fast paths give the same answers as the simple ones (speed itself is measured in benchmarks/)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.cluster import AgglomerativeClustering, KMeans, MiniBatchKMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from musiclust.clustering.large_n import SubsampleThenAssign, scalable_clusterer
from musiclust.errors import ConfigError
from musiclust.features import audio
from musiclust.features.audio import LogMelSpec, MFCCFrames, MFCCStats, Spectra, extract_audio
from musiclust.features.base import FeatureSet, FeatureStores, load_or_compute
from musiclust.features.store import StoredRows
from musiclust.pipeline import run_experiment
from musiclust.training.datamodule import MusicDataModule, _ArrayDataset
from tests.conftest import TINY_DEMO

NO_PLOTS = ["~outputs.projections", "~outputs.distributions", "~outputs.reconstructions"]


@pytest.fixture(scope="module")
def manifest(demo_root, tmp_path_factory) -> pd.DataFrame:
    """The tiny demo set plus two songs that cannot be used (a missing file, a 0.1-second file)."""
    import soundfile as sf

    from musiclust.data.demo import DemoDataset

    frame = DemoDataset(root=str(demo_root), **TINY_DEMO).load()
    short = tmp_path_factory.mktemp("bad") / "short.wav"
    sf.write(short, np.full(2205, 0.5, dtype=np.float32), 22050)
    bad = pd.DataFrame({"id": ["gone", "short"], "audio_path": [str(demo_root / "nope.wav"), str(short)]})
    middle = len(frame) // 2
    return pd.concat([frame.iloc[:middle], bad, frame.iloc[middle:]], ignore_index=True)


def all_features() -> list:
    return [MFCCStats(), LogMelSpec(), MFCCFrames(frames=64)]


def test_parallel_extraction_equals_sequential(manifest, monkeypatch):
    monkeypatch.setattr(audio, "AUDIO_SECONDS_PER_WORKER", 1.0)  # the tiny set would not pay for a pool
    assert audio.worker_count(2, len(manifest), audio.audio_seconds(manifest["audio_path"].tolist(), None)) == 2
    sequential = extract_audio(manifest, all_features(), n_jobs=1)
    parallel = extract_audio(manifest, all_features(), n_jobs=2)
    for one, two in zip(sequential, parallel, strict=True):
        np.testing.assert_array_equal(one.values, two.values)
        np.testing.assert_array_equal(one.ids, two.ids)
        pd.testing.assert_frame_equal(one.skipped, two.skipped)
    songs = manifest["id"].drop([manifest.index[manifest["id"] == i][0] for i in ("gone", "short")])
    np.testing.assert_array_equal(sequential[0].ids, songs.to_numpy())  # manifest order, bad items left out
    assert sequential[0].values.shape == (len(songs), 80)
    assert sequential[1].values.shape == (len(songs), 1, 64, 128)
    after_skips = int(manifest.index[manifest["id"] == "short"][0]) + 1
    for row in (after_skips, len(manifest) - 1):  # the first song after the skipped items, and the last one
        signal, _ = audio.decode(manifest["audio_path"][row], 22050, None, 0.5)
        kept_row = list(sequential[0].ids).index(manifest["id"][row])
        np.testing.assert_allclose(parallel[0].values[kept_row], MFCCStats().from_signal(signal), rtol=1e-5, atol=1e-4)
    skipped = sequential[0].skipped.set_index("id")
    assert list(skipped.index) == ["gone", "short"]
    assert "missing" in skipped.loc["gone", "reason"] and "short" in skipped.loc["short", "reason"]


def test_worker_processes_only_for_enough_audio(manifest):
    paths = manifest["audio_path"].tolist()
    readable = len(paths) - 1  # the missing file counts as no audio
    assert audio.audio_seconds(paths, None, sample=len(paths)) == pytest.approx((readable - 1) * 2.0 + 0.1)
    assert audio.audio_seconds(paths, 1.0, sample=len(paths)) == pytest.approx((readable - 1) * 1.0 + 0.1)
    assert audio.audio_seconds([], None) == 0.0
    per_worker = audio.AUDIO_SECONDS_PER_WORKER
    assert audio.worker_count(-1, len(paths), audio.audio_seconds(paths, None)) == 1  # a pool would not pay off
    assert audio.worker_count(4, 1000, 2.5 * per_worker) == 2
    assert audio.worker_count(2, 1000, 100 * per_worker) == 2
    assert audio.worker_count(4, 3, 100 * per_worker) == 3  # never more processes than files


def test_shared_spectra_match_librosa(manifest):
    import librosa

    signal, _ = audio.decode(manifest["audio_path"][0], 22050, None, 0.5)
    m = librosa.feature.mfcc(y=signal, sr=22050, n_mfcc=20)
    expected_stats = np.concatenate([m.mean(axis=1), m.std(axis=1), m.min(axis=1), m.max(axis=1)])
    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=signal, sr=22050, n_mels=64), ref=np.max)
    spectra = Spectra(signal, 22050)
    np.testing.assert_allclose(MFCCStats().from_spectra(spectra), expected_stats, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(LogMelSpec().from_spectra(spectra)[:, 0], audio.track_windows(mel, 128), atol=1e-3)
    np.testing.assert_allclose(MFCCStats().from_signal(signal), expected_stats, rtol=1e-4, atol=1e-3)


def test_each_file_decoded_once_and_one_stft_per_song(manifest, monkeypatch):
    import librosa

    calls = {"decode": 0, "stft": 0}
    decode, stft = audio.decode, librosa.stft

    def counting_decode(*args, **kwargs):
        calls["decode"] += 1
        return decode(*args, **kwargs)

    def counting_stft(*args, **kwargs):
        calls["stft"] += 1
        return stft(*args, **kwargs)

    monkeypatch.setattr(audio, "decode", counting_decode)
    monkeypatch.setattr(librosa, "stft", counting_stft)
    rows = manifest.iloc[:6]
    sets = extract_audio(rows, all_features(), n_jobs=1)
    assert calls["decode"] == len(rows)  # three features, one decode per file
    assert calls["stft"] == len(sets[0].ids)  # mfcc, mfcc_frames and logmelspec share n_fft/hop_length


def test_progress_bar_shows_for_long_extractions(manifest, monkeypatch, capsys):
    monkeypatch.setattr(audio, "PROGRESS_DELAY", 0.0)
    extract_audio(manifest.iloc[:3], [MFCCStats()], n_jobs=1, progress=True)
    assert "features mfcc" in capsys.readouterr().err


def test_store_hit_is_read_lazily_and_skips_compute(manifest, tmp_path, monkeypatch):
    rows = manifest.iloc[:8]
    stores = FeatureStores(tmp_path / "cache")
    first, counts = load_or_compute(MFCCStats(n_jobs=1), rows, stores)
    assert (counts.computed, counts.loaded, counts.from_cache) == (8, 0, False)
    extractor = MFCCStats(n_jobs=4)  # n_jobs is how, not what: same store

    def no_compute(*_):
        raise AssertionError("a store hit must not compute")

    for method in ("compute", "compute_batches"):
        monkeypatch.setattr(extractor, method, no_compute)
    second, counts = load_or_compute(extractor, rows, stores)
    assert (counts.computed, counts.loaded, counts.from_cache) == (0, 8, True)
    assert isinstance(second.values, StoredRows)  # read from disk in batches, not held in memory
    np.testing.assert_array_equal(second.values, first.values)
    np.testing.assert_array_equal(second.ids, first.ids)
    pd.testing.assert_frame_equal(second.skipped, first.skipped)  # the missing and the too-short file, stored too
    (store,) = (tmp_path / "cache").iterdir()
    assert not [p for p in (store / "songs").iterdir() if p.name.startswith(".")]  # temporary files renamed


def test_concurrent_jobs_compute_a_collection_entry_once(tmp_path):
    """Two sweep jobs that need the same collection-level features: one computes, the other waits and loads."""
    import threading
    import time

    from musiclust.features.base import FeatureExtractor, FeatureSet

    calls = []

    class Slow(FeatureExtractor):
        name = "slow"

        def compute(self, manifest):
            calls.append(1)
            time.sleep(0.5)
            return FeatureSet(values=np.ones((len(manifest), 2), dtype=np.float32), ids=manifest["id"])

    rows = pd.DataFrame({"id": ["a", "b", "c"]})
    stores, results = FeatureStores(tmp_path / "cache"), []
    jobs = [threading.Thread(target=lambda: results.append(load_or_compute(Slow(), rows, stores)))
            for _ in range(2)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    assert len(calls) == 1
    assert sorted(counts.from_cache for _, counts in results) == [False, True]
    np.testing.assert_array_equal(results[0][0].values, results[1][0].values)


def blobs(n: int, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return make_blobs(n_samples=n, n_features=8, centers=k, cluster_std=0.5, random_state=seed)


def test_large_n_kmeans_becomes_minibatch():
    kmeans = KMeans(n_clusters=3, n_init=2, random_state=5)
    assert scalable_clusterer(kmeans, 1000, minibatch_above=1000) is kmeans
    large = scalable_clusterer(kmeans, 5000, minibatch_above=1000)
    assert isinstance(large, MiniBatchKMeans)
    assert (large.n_clusters, large.random_state, large.n_init) == (3, 5, 2)
    z, truth = blobs(5000)
    assert adjusted_rand_score(truth, large.fit_predict(z)) > 0.95


def test_pairwise_clusterers_refuse_or_subsample_above_the_limit():
    agglomerative = AgglomerativeClustering(n_clusters=3)
    assert scalable_clusterer(agglomerative, 100, pairwise_limit=100) is agglomerative
    with pytest.raises(ConfigError, match=r"200 songs .*large_n\.pairwise_limit=100.*clusterer=kmeans"):
        scalable_clusterer(agglomerative, 200, pairwise_limit=100)
    sampled = scalable_clusterer(agglomerative, 600, pairwise_limit=150, pairwise_strategy="subsample", seed=1)
    assert isinstance(sampled, SubsampleThenAssign)
    z, truth = blobs(600)
    labels = sampled.fit_predict(z)
    assert len(labels) == 600 and len(sampled.sample_indices_) == 150
    assert adjusted_rand_score(truth, labels) > 0.95
    again = scalable_clusterer(agglomerative, 600, pairwise_limit=150, pairwise_strategy="subsample", seed=1)
    np.testing.assert_array_equal(again.fit_predict(z), labels)


def test_pipeline_large_n_path_uses_minibatch_and_a_bounded_silhouette_sample(make_cfg, monkeypatch):
    from sklearn.metrics.cluster import _unsupervised

    seen = []
    silhouette_samples = _unsupervised.silhouette_samples

    def spy(X, labels, **kwargs):
        seen.append(len(X))
        return silhouette_samples(X, labels, **kwargs)

    monkeypatch.setattr(_unsupervised, "silhouette_samples", spy)
    result = run_experiment(make_cfg("model=pca", "large_n.minibatch_above=10", "silhouette_sample_size=20", *NO_PLOTS))
    assert result.metrics["clusterer_class"] == "MiniBatchKMeans"
    assert seen == [20] and np.isfinite(result.metrics["silhouette"])


def test_pipeline_refuses_agglomerative_above_the_limit_before_training(make_cfg):
    cfg = make_cfg("model=vae", "k=3", "clusterer._target_=sklearn.cluster.AgglomerativeClustering",
                   "~clusterer.n_init", "~clusterer.random_state", "large_n.pairwise_limit=10")
    with pytest.raises(ConfigError, match=r"36 songs .*large_n\.pairwise_limit=10"):
        run_experiment(cfg)


def test_early_stopping_waits_for_kl_warmup_then_stops(make_cfg):
    cfg = make_cfg("trainer.max_epochs=30", "model.kl_warmup_epochs=3", "callbacks.early_stopping.patience=2",
                   "callbacks.early_stopping.min_delta=1e6", *NO_PLOTS)
    assert cfg.callbacks.early_stopping.monitor == "train/loss"
    result = run_experiment(cfg)
    # epochs 0-1 are warm-up (not judged), epoch 2 sets the best loss, epochs 3-4 fail to beat it by 1e6
    assert result.metrics["epochs_trained"] == 5


def test_early_stopping_can_be_disabled(make_cfg):
    result = run_experiment(make_cfg("trainer.max_epochs=4", "~callbacks.early_stopping", *NO_PLOTS))
    assert result.metrics["epochs_trained"] == 4


def test_datamodule_serves_whole_batches_without_per_item_access(monkeypatch):
    def per_item(self, index):
        raise AssertionError("batches must be sliced whole, not built song by song")

    monkeypatch.setattr(_ArrayDataset, "__getitem__", per_item)
    features = np.arange(100 * 3, dtype=np.float32).reshape(100, 3)
    conditions = np.eye(4, dtype=np.float32)[np.arange(100) % 4]
    songs = FeatureSet(features, [f"s{i}" for i in range(100)], normalization="none")
    datamodule = MusicDataModule(songs, conditions=conditions, batch_size=32, seed=7)
    batches = list(datamodule.train_dataloader())
    assert [len(b["index"]) for b in batches] == [32, 32, 32, 4]
    order = torch.cat([b["index"] for b in batches]).numpy()
    assert sorted(order.tolist()) == list(range(100)) and not np.array_equal(order, np.arange(100))
    for batch in batches:
        np.testing.assert_array_equal(batch["x"].numpy(), features[batch["index"].numpy()])
        np.testing.assert_array_equal(batch["cond"].numpy(), conditions[batch["index"].numpy()])
    again = torch.cat([b["index"] for b in MusicDataModule(songs, conditions=conditions, batch_size=32, seed=7)
                       .train_dataloader()])
    np.testing.assert_array_equal(again.numpy(), order)  # same seed, same order
    predicted = list(datamodule.predict_dataloader())
    np.testing.assert_array_equal(torch.cat([b["x"] for b in predicted]).numpy(), features)


def test_projection_plots_subsample_large_runs(tmp_path, monkeypatch):
    from pathlib import Path

    from musiclust.outputs import RunResult, plots

    seen = []
    project_2d = plots.project_2d

    def spy(z, method, seed):
        seen.append(len(z))
        return project_2d(z, method, seed)

    monkeypatch.setattr(plots, "project_2d", spy)
    z, truth = blobs(3000)
    result = RunResult(run_dir=Path(tmp_path), settings={"seed": 0, "model": "pca", "clusterer": "kmeans"},
                       ids=np.arange(3000).astype(str), z=z, clusters=truth, manifest=pd.DataFrame({"id": range(3000)}),
                       metrics={})
    plots.ProjectionPlotter(methods=["tsne"], max_points=200).write(result)
    assert seen == [200]
    assert (tmp_path / "latent_visualization" / "pca_kmeans_tsne.png").exists()
