"""The per-song feature store: only new or changed songs are computed, by one job, and what a killed run committed
is kept; values read back from disk in batches serve the datamodule and PCA exactly as values in memory."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from musiclust.features import store
from musiclust.features.audio import MFCCStats
from musiclust.features.base import FeatureExtractor, FeatureSet, FeatureStores, features_for, load_or_compute
from musiclust.features.store import StoredRows
from musiclust.pipeline import run_experiment
from tests.conftest import ONE_THREAD_ENV, REPO, TINY_DEMO, compose_config

LEAN_RUN = ["model=pca", "~outputs.projections", "~outputs.distributions", "~outputs.reconstructions",
            "trainer.enable_progress_bar=false"]


def write_songs(folder: Path, n: int, seconds: float = 0.6, sr: int = 8000) -> pd.DataFrame:
    """``n`` short tones (two genres: low and high) as WAV files, and their manifest rows."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    rows = []
    for i in range(n):
        genre = "low" if i % 2 else "high"
        pitch = (110 if genre == "low" else 880) * (1 + 0.01 * (i % 7))
        sf.write(folder / f"song{i:03d}.wav", (0.4 * np.sin(2 * np.pi * pitch * t)).astype(np.float32), sr)
        rows.append({"id": f"song{i:03d}", "audio_path": f"song{i:03d}.wav", "genre": genre, "mood": "calm"})
    return pd.DataFrame(rows)


def run_manifest(frame: pd.DataFrame, csv: Path, cache: Path, run_dir: Path) -> pd.Series:
    frame.to_csv(csv, index=False)
    cfg = compose_config(["dataset=manifest", f"dataset.path={csv}", "dataset.label_columns=[genre]", "label_col=genre",
                          "k=2", f"paths.cache_dir={cache}", "feature.n_jobs=1", *LEAN_RUN], run_dir)
    run_experiment(cfg)
    return pd.read_csv(run_dir / "clustering_metrics.csv").iloc[0]


def test_adding_songs_computes_only_those_and_reordering_or_relabelling_nothing(tmp_path):
    songs = write_songs(tmp_path / "audio", 210)
    csv, cache = tmp_path / "audio" / "songs.csv", tmp_path / "cache"
    first = run_manifest(songs.iloc[:200], csv, cache, tmp_path / "first")
    assert (first["features_computed"], first["features_loaded"], first["features_from_cache"]) == (200, 0, False)

    grown = run_manifest(songs, csv, cache, tmp_path / "grown")  # 10 new songs
    assert (grown["features_computed"], grown["features_loaded"]) == (10, 200)

    changed = songs.sample(frac=1.0, random_state=0).reset_index(drop=True)  # another order, edited labels
    changed["mood"] = "angry"
    changed.loc[::3, "genre"] = "relabelled"
    again = run_manifest(changed, csv, cache, tmp_path / "again")
    assert (again["features_computed"], again["features_loaded"], again["features_from_cache"]) == (0, 210, True)

    (songs_dir,) = cache.glob("mfcc-*/songs")
    assert len(list(songs_dir.glob("*.json"))) == 2  # one shard per extraction: 200 songs, then 10


def test_a_changed_file_is_computed_again_and_content_keys_survive_a_move(tmp_path):
    songs = write_songs(tmp_path / "audio", 4)
    songs["audio_path"] = [str(tmp_path / "audio" / p) for p in songs["audio_path"]]
    extractor = MFCCStats(n_jobs=1)
    for method in ("stat", "content"):
        stores = FeatureStores(tmp_path / f"cache-{method}", key_method=method)
        assert load_or_compute(extractor, songs, stores)[1].computed == 4
        moved = songs.copy()
        moved.loc[0, "audio_path"] = str(tmp_path / "elsewhere.wav")
        os.replace(songs.loc[0, "audio_path"], moved.loc[0, "audio_path"])
        assert load_or_compute(extractor, moved, stores)[1].computed == (1 if method == "stat" else 0)
        os.replace(moved.loc[0, "audio_path"], songs.loc[0, "audio_path"])
    sf.write(songs.loc[1, "audio_path"], np.zeros(4800, dtype=np.float32) + 0.3, 8000)  # the file itself changes
    for method in ("stat", "content"):
        stores = FeatureStores(tmp_path / f"cache-{method}", key_method=method)
        features, counts = load_or_compute(extractor, songs, stores)
        assert counts.computed == 1
        fresh = extractor.compute(songs)
        np.testing.assert_array_equal(np.asarray(features.values), fresh.values)
        pd.testing.assert_frame_equal(features.skipped, fresh.skipped)


class SlowTextFeature(FeatureExtractor):
    """A per-song feature of the ``text`` column that takes its time and logs every song it computes."""

    name = "slow_text"
    scope = "song"
    reads_audio = False

    def __init__(self, log_path: str = "", seconds: float = 0.05) -> None:
        super().__init__()
        self.log_path, self.seconds = log_path, seconds

    def key_columns(self, manifest):
        return ["text"]

    def compute(self, manifest):
        values = []
        for song_id, text in zip(manifest["id"], manifest["text"], strict=True):
            time.sleep(self.seconds)
            with open(self.log_path, "a") as handle:
                handle.write(f"{os.getpid()} {song_id}\n")
            values.append(np.frombuffer(text.encode().ljust(8, b"_")[:8], dtype=np.uint8).astype(np.float32))
        return FeatureSet(np.stack(values), manifest["id"])


def _text_manifest(n: int) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"t{i}" for i in range(n)], "text": [f"song {i}" for i in range(n)]})


def _compute_after_barrier(barrier, cache: str, log_path: str, queue) -> None:
    barrier.wait()
    features, counts = load_or_compute(SlowTextFeature(log_path), _text_manifest(12), FeatureStores(cache))
    queue.put((counts.computed, counts.loaded, np.asarray(features.values).tolist()))


def test_two_processes_on_one_store_compute_each_song_once(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(2), context.Queue()
    log_path = tmp_path / "computed.log"
    jobs = [context.Process(target=_compute_after_barrier, args=(barrier, str(tmp_path / "cache"), str(log_path),
                                                                   queue)) for _ in range(2)]
    for job in jobs:
        job.start()
    results = [queue.get(timeout=120) for _ in jobs]
    for job in jobs:
        job.join(timeout=60)
    computed = [line.split()[1] for line in log_path.read_text().splitlines()]
    assert sorted(computed) == sorted(f"t{i}" for i in range(12))  # every song once, by one of the two
    assert sorted((c, n) for c, n, _ in results) == [(0, 12), (12, 0)]  # the other waited, then loaded them all
    assert results[0][2] == results[1][2]


def test_a_run_killed_mid_extraction_keeps_what_it_committed(demo_root, tmp_path):
    """SIGKILL during extraction, rerun: only the songs missing from the store are computed, and the values are
    those of an uninterrupted extraction."""
    from musiclust.data.demo import DemoDataset

    cache = tmp_path / "cache"
    child = f"""
import sys, time
from musiclust.data.demo import DemoDataset
from musiclust.features import audio, store
from musiclust.features.base import features_for
store.SHARD_SONGS = 9  # one shard per chunk of 9 files
decode = audio.decode
def slow_decode(*args, **kwargs):
    time.sleep(0.15)
    return decode(*args, **kwargs)
audio.decode = slow_decode
manifest = DemoDataset(root={str(demo_root)!r}, **{TINY_DEMO!r}).load()
features_for({{"_target_": "musiclust.features.MFCCStats", "n_jobs": 1}}, manifest, {str(cache)!r})
print("finished", flush=True)
"""
    process = subprocess.Popen([sys.executable, "-c", child], cwd=REPO, env={**os.environ, **ONE_THREAD_ENV},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    # committed indexes only: pathlib globs match the dot-named temporary file of an index being written
    while len(list(cache.glob("mfcc-*/songs/[!.]*.json"))) < 2 and process.poll() is None:
        assert time.monotonic() < deadline, "the child committed no shards"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    output = process.communicate()[0].decode()
    assert "finished" not in output, output
    committed = sum(len(json.loads(p.read_text())["keys"]) for p in cache.glob("mfcc-*/songs/[!.]*.json"))
    assert 18 <= committed < 36

    manifest = DemoDataset(root=str(demo_root), **TINY_DEMO).load()
    features, counts = features_for({"_target_": "musiclust.features.MFCCStats", "n_jobs": 1}, manifest, cache)
    assert (counts.computed, counts.loaded) == (36 - committed, committed)
    fresh, _ = features_for({"_target_": "musiclust.features.MFCCStats", "n_jobs": 1}, manifest, cache,
                            use_cache=False)
    np.testing.assert_array_equal(np.asarray(features.values), fresh.values)
    np.testing.assert_array_equal(features.ids, fresh.ids)
    (songs_dir,) = cache.glob("mfcc-*/songs")
    assert not [p.name for p in songs_dir.iterdir() if p.name.startswith(".") or not
                (songs_dir / f"{p.stem}.json").exists()]  # what the killed writer left was removed


def test_stored_rows_index_like_an_array(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "SHARD_SONGS", 5)
    manifest = _text_manifest(23)
    features, _ = load_or_compute(SlowTextFeature(str(tmp_path / "log"), 0.0), manifest, FeatureStores(tmp_path))
    values = features.values
    expected = SlowTextFeature(str(tmp_path / "log"), 0.0).compute(manifest).values
    assert isinstance(values, StoredRows) and len(values.files) == 5 and values.shape == expected.shape
    for index in (3, -1, slice(None), slice(4, 19, 3), slice(20, 2, -2), [7, 7, 0, 22, -3], np.arange(23) % 2 == 0):
        np.testing.assert_array_equal(values[index], expected[index])
    np.testing.assert_array_equal(values[[4, 5], 2:5], expected[[4, 5], 2:5])
    view = values.take(np.array([22, 1, 6, 5]))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(view))[:], expected[[22, 1, 6, 5]])
    with pytest.raises(IndexError):
        values[[23]]
    kept = features.select(np.arange(23) % 3 != 0)
    assert isinstance(kept.values, StoredRows)
    np.testing.assert_array_equal(kept.values, expected[np.arange(23) % 3 != 0])


@pytest.mark.parametrize("normalised_in_memory", [True, False])
def test_datamodule_on_stored_rows_serves_the_same_batches_as_in_memory(tmp_path, monkeypatch, normalised_in_memory):
    """Rows read from the store and normalised per batch (large data), or normalised once (small data): the same
    batches, bit for bit, as the whole array normalised in memory."""
    import torch

    from musiclust.training import datamodule
    from musiclust.training.datamodule import MusicDataModule

    rng = np.random.default_rng(0)
    values = (rng.normal(size=(300, 1, 6, 5)) * 3 + 2).astype(np.float32)
    counts = rng.integers(1, 4, size=130)
    counts[-1] += 300 - counts.sum()
    assert counts[-1] >= 1
    stored = store.SongStore(tmp_path / "maps")
    writer = stored.writer(windowed=True)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    for song in range(130):
        writer.add([f"k{song}"], values[offsets[song]:offsets[song + 1]], [counts[song]])
        if song % 40 == 39:
            writer.flush()
    writer.flush()
    shards = stored.shards()
    entries = stored.entries(shards)
    lazy = stored.rows([entries[f"k{song}"] for song in range(130)], shards)
    ids = [f"s{i}" for i in range(130)]
    conditions = np.eye(3, dtype=np.float32)[np.arange(130) % 3]
    in_memory = MusicDataModule(FeatureSet(values, ids, offsets=offsets), conditions=conditions, batch_size=32, seed=3)
    if not normalised_in_memory:
        monkeypatch.setattr(datamodule, "NORMALISED_IN_MEMORY_BYTES", 0)
    on_disk = MusicDataModule(FeatureSet(lazy, ids, offsets=offsets), conditions=conditions, batch_size=32, seed=3)
    assert (on_disk.features.normalised is None) != normalised_in_memory
    assert in_memory.features.normalised is not None
    np.testing.assert_array_equal(on_disk.normalizer.mean_, in_memory.normalizer.mean_)
    np.testing.assert_array_equal(on_disk.normalizer.scale_, in_memory.normalizer.scale_)
    for loader in ("train_dataloader", "predict_dataloader"):
        for a, b in zip(getattr(on_disk, loader)(), getattr(in_memory, loader)(), strict=True):
            for key in ("x", "cond", "index"):
                torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    np.testing.assert_array_equal(on_disk.features[[5, 0, 299]], in_memory.features[[5, 0, 299]])


def test_streaming_pca_matches_exact_pca(monkeypatch):
    """Above PCA_IN_MEMORY_BYTES, PCA is fitted in chunks (IncrementalPCA): same explained variance (to 1e-4)
    and the same components (|cosine| ≥ 0.9999) as the exact fit, for separated leading eigenvalues."""
    from musiclust.features.normalize import Normalizer
    from musiclust.models import baselines
    from musiclust.training.datamodule import NormalisedRows

    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.normal(size=(40, 5)))[0].T
    values = (rng.normal(size=(3000, 5)) * [9, 6, 4, 2.5, 1.5]) @ basis + 0.05 * rng.normal(size=(3000, 40))
    rows = NormalisedRows(values.astype(np.float32), Normalizer("center").fit(values.astype(np.float32)))

    def fitted(in_memory_bytes):
        monkeypatch.setattr(baselines, "PCA_IN_MEMORY_BYTES", in_memory_bytes)
        monkeypatch.setattr(baselines, "PCA_CHUNK_BYTES", 40 * 4 * 400)  # 400 rows per partial fit: 8 chunks
        model = baselines.PCAModel(input_shape=(40,), latent_dim=5)
        model.fit_rows(rows)
        return model

    exact, streamed = fitted(1 << 30), fitted(0)
    np.testing.assert_allclose(streamed.explained_variance_ratio, exact.explained_variance_ratio, atol=1e-4)
    cosines = np.abs(np.sum(streamed.components.numpy() * exact.components.numpy(), axis=1))
    assert (cosines >= 0.9999).all(), cosines
