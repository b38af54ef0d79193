"""A damaged feature-store shard or collection entry is reported and recomputed: never a crash, never silently used."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from musiclust.pipeline import run_experiment


def zero_the_data(path):
    """Overwrite an .npy file's numbers with zeros, keeping its header (a bad sector, a partial copy)."""
    data = bytearray(path.read_bytes())
    header = len(data) - np.load(path, mmap_mode="r").nbytes
    data[header:] = bytes(len(data) - header)
    path.write_bytes(bytes(data))


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage", [zero_the_data, truncate])
def test_a_damaged_entry_is_reported_recomputed_and_gives_the_same_metrics(make_cfg, tmp_path, caplog, damage):
    cache = tmp_path / "cache"
    overrides = ["feature=lyrics_tfidf", "label_col=language", "k=2", "model=pca",
                 "outputs.projections.methods=[]"]
    first = run_experiment(make_cfg(*overrides, cache_dir=cache, run_dir=tmp_path / "first")).metrics
    (entry,) = cache.glob("lyrics_tfidf-*/collections/lyrics_tfidf-*")  # TF-IDF: one entry per collection
    damage(entry / "values.npy")

    with caplog.at_level(logging.WARNING, logger="musiclust.features.base"):
        second = run_experiment(make_cfg(*overrides, cache_dir=cache, run_dir=tmp_path / "second")).metrics
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and str(entry) in warnings[0] and "values.npy" in warnings[0], warnings
    assert not second["features_from_cache"]
    assert second["nmi"] == pytest.approx(first["nmi"]) and second["silhouette"] == pytest.approx(first["silhouette"])

    third = run_experiment(make_cfg(*overrides, cache_dir=cache, run_dir=tmp_path / "third")).metrics
    assert third["features_from_cache"] and third["nmi"] == pytest.approx(first["nmi"])  # stored again, intact
    assert [p.name for p in entry.parent.iterdir() if not p.name.endswith(".lock")] == [entry.name]  # none aside


@pytest.mark.parametrize("damage", [zero_the_data, truncate])
def test_a_damaged_shard_is_reported_and_only_its_songs_recomputed(make_cfg, tmp_path, caplog, monkeypatch, damage):
    from musiclust.features import store

    monkeypatch.setattr(store, "SHARD_SONGS", 9)  # the 36 demo songs in 4 shards
    cache = tmp_path / "cache"
    overrides = ["model=pca", "~outputs.projections", "~outputs.distributions"]
    first = run_experiment(make_cfg(*overrides, cache_dir=cache, run_dir=tmp_path / "first")).metrics
    assert (first["features_computed"], first["features_loaded"]) == (36, 0)
    (songs,) = cache.glob("mfcc-*/songs")
    shards = sorted(songs.glob("*.npy"))
    assert len(shards) == 4
    damage(shards[1])

    with caplog.at_level(logging.WARNING):
        second = run_experiment(make_cfg(*overrides, cache_dir=cache, run_dir=tmp_path / "second")).metrics
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and shards[1].stem in warnings[0] and "computed again" in warnings[0], warnings
    assert (second["features_computed"], second["features_loaded"]) == (9, 27)  # that shard's songs, no others
    assert second["nmi"] == first["nmi"] and second["silhouette"] == first["silhouette"]

    third = run_experiment(make_cfg(*overrides, cache_dir=cache, run_dir=tmp_path / "third")).metrics
    assert (third["features_computed"], third["features_loaded"]) == (0, 36) and third["nmi"] == first["nmi"]
    assert shards[1] not in set(songs.glob("*.npy")) and len(list(songs.glob("*.npy"))) == 4  # replaced, none aside
    assert len(list(songs.glob("*.json"))) == 4 and not list(songs.glob(".*"))


def test_an_entry_without_checksums_is_not_trusted(tmp_path, caplog):
    from musiclust.features.base import FeatureCache, FeatureSet

    cache = FeatureCache(tmp_path)
    features = FeatureSet(values=np.arange(6, dtype=np.float32).reshape(3, 2), ids=np.array(["a", "b", "c"]))
    cache.store("f", "k", features, {"name": "f"})
    loaded = cache.load("f", "k")
    np.testing.assert_array_equal(loaded.values, features.values)
    meta = cache.path_for("f", "k") / "meta.json"
    meta.write_text(pd.Series({"shape": [3, 2]}).to_json())  # what an older musiclust wrote
    with caplog.at_level(logging.WARNING):
        assert cache.load("f", "k") is None
    assert "no checksums" in caplog.text
