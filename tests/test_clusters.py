"""What each cluster is: clusters.csv and clusters/ (representative songs, c-TF-IDF n-grams, audio clips)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from musiclust.outputs import RunResult
from musiclust.outputs.clusters import ClusterSummary, class_tfidf, lyric_words, representatives, top_terms

BANGLA = "আমি তোমাকে ভালোবাসি। নদীর গান, আকাশ!"


def test_bangla_words_keep_their_vowel_signs():
    """Python's \\w splits ভালোবাসি at its vowel signs into single letters; lyric_words keeps every word whole."""
    import re

    assert "ভ" in re.findall(r"\w+", BANGLA)  # what a default CountVectorizer token pattern would see
    assert lyric_words(BANGLA) == ["আমি", "তোমাকে", "ভালোবাসি", "নদীর", "গান", "আকাশ"]
    assert lyric_words("Don't stop, NEON-city 2024") == ["don't", "stop", "neon", "city"]


def test_class_tfidf_ranks_what_sets_a_cluster_apart():
    common = "love night heart "
    texts = [common * 3 + "neon city neon city", common * 3 + "neon city dance",
             common * 3 + "নদী মাঝি নদী মাঝি", common * 3 + "নদী মাঝি গ্রাম"]
    clusters = ["c0", "c0", "c1", "c1"]
    scores = class_tfidf(texts, clusters)
    top0 = [t for t, _ in top_terms(scores, "c0", 3)]
    top1 = [t for t, _ in top_terms(scores, "c1", 3)]
    assert top0[:2] == ["neon", "city"] or top0[:2] == ["city", "neon"]
    assert top1[0] == "নদী" and "মাঝি" in top1
    # words three times as frequent but in every cluster rank below the cluster's own words ...
    assert scores.loc["c0", "love"] < scores.loc["c0", "neon"]
    # ... thanks to the square root of the term frequencies (BERTopic's reduce_frequent_words); without it they win
    plain = class_tfidf(texts, clusters, reduce_frequent_words=False)
    assert plain.loc["c0", "love"] > plain.loc["c0", "neon"]
    assert "neon city" in scores.columns and "city neon" in scores.columns  # bigrams too ...
    assert "dance love" not in scores.columns  # ... but none across two songs ("... dance" + "love ...")
    assert top_terms(scores, "c1", 20) == [(t, s) for t, s in top_terms(scores, "c1", 20) if "neon" not in t]
    # the scores of a cluster do not depend on the order of the songs or of the clusters
    again = class_tfidf(texts[::-1], clusters[::-1])
    pd.testing.assert_frame_equal(scores.loc[["c0", "c1"]].sort_index(axis=1),
                                  again.loc[["c0", "c1"]].sort_index(axis=1))


def test_representatives_are_closest_to_the_centre_and_noise_has_none():
    z = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 3.0], [10.0, 10.0], [11, 11], [12, 12]])
    names = np.array(["c0", "c0", "c0", "c0", "c1", "c1", "noise"])
    rows = representatives(z, names, "c0", 2)
    centre = z[:4].mean(axis=0)
    assert [r for r, _ in rows] == [0, 1]  # (0, 0) is nearest to (0, 0.75); then (1, 0) before (-1, 0) by order
    assert rows[0][1] == pytest.approx(np.linalg.norm(z[0] - centre))
    assert representatives(z, names, "noise", 3) == []


@pytest.fixture
def audio_run(tmp_path) -> RunResult:
    """Twelve songs with real audio files (two genres of tones) and English / Bangla lyrics."""
    sr = 22050
    rows = []
    for i in range(12):
        genre = "low" if i < 6 else "high"
        tone = np.sin(2 * np.pi * (220 if genre == "low" else 880) * np.arange(3 * sr) / sr).astype(np.float32)
        path = tmp_path / "audio" / f"song{i}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, 0.3 * tone, sr)
        lyrics = "river boat river" if genre == "low" else "নদী মাঝি গান"
        rows.append({"id": f"song {i}", "audio_path": str(path), "lyrics": f"{lyrics} love night",
                     "genre": genre, "language": "English" if i % 2 else "Bangla"})
    manifest = pd.DataFrame(rows)
    clusters = np.array([0] * 5 + [1] + [1] * 5 + [-1])
    z = np.random.default_rng(0).normal(size=(12, 3)) + clusters[:, None] * 5
    return RunResult(run_dir=tmp_path / "run", settings={"label_col": "genre", "seed": 0},
                     ids=manifest["id"].to_numpy(), z=z, clusters=clusters, manifest=manifest, metrics={},
                     plot_columns=["genre", "language"])


def test_cluster_summary_files(audio_run):
    ClusterSummary(n_representatives=3, n_clips=2, clip_seconds=2.0, clip_sr=16000).write(audio_run)
    run = audio_run.run_dir
    table = pd.read_csv(run / "clusters.csv", keep_default_na=False)
    assert list(table["cluster_name"]) == ["c1", "c0", "noise"]  # c1 matched to "high", c0 to "low"; noise last
    assert list(table["matched_label"]) == ["high", "low", ""] and table["size"].sum() == 12
    assert list(table["size"]) == [6, 5, 1] and table.loc[0, "composition"] == "high 5; low 1"
    assert table.loc[2, "colour"] == "#BBBBBB" and table.loc[2, "representatives"] == ""
    assert table.loc[1, "ngrams"].split("; ")[:2] == ["river", "boat"]
    bangla = table.loc[0, "ngrams"].split("; ")
    assert {"নদী", "মাঝি", "নদী মাঝি"} <= set(bangla) and not any("river" in term for term in bangla)
    details = json.loads((run / "clusters" / "clusters.json").read_text(encoding="utf-8"))
    first = details["clusters"][0]
    assert first["composition"]["language"] == {"Bangla": 3, "English": 3}
    assert len(first["representatives"]) == 3 and first["representatives"][0]["labels"]["genre"] in ("low", "high")
    clips = [song["clip"] for song in first["representatives"] if song["clip"]]
    assert len(clips) == 2 and clips[0].startswith("clips/c1_1_song_")
    for clip in clips:
        path = run / "clusters" / clip
        signal, sr = sf.read(path)
        assert sr == 16000 and signal.ndim == 1 and len(signal) == pytest.approx(2.0 * sr, rel=0.02)
        assert path.stat().st_size < 12_000  # a few kB: the report embeds them
        assert np.abs(signal).max() > 0.5  # normalised, not silent


def test_missing_audio_loses_its_clip_not_the_run(audio_run, caplog):
    Path(audio_run.manifest["audio_path"].iloc[6]).unlink()
    ClusterSummary(n_representatives=6, n_clips=6, clip_seconds=1.0).write(audio_run)
    details = json.loads((audio_run.run_dir / "clusters" / "clusters.json").read_text(encoding="utf-8"))
    songs = {song["id"]: song["clip"] for c in details["clusters"] for song in c["representatives"]}
    assert songs["song 6"] is None and sum(clip is not None for clip in songs.values()) == 10
    assert "No clip for" in caplog.text


def test_lyrics_only_runs_have_no_clips(audio_run):
    audio_run.manifest = audio_run.manifest.drop(columns=["audio_path"])
    ClusterSummary(n_clips=2).write(audio_run)
    assert not (audio_run.run_dir / "clusters" / "clips").exists()
    assert pd.read_csv(audio_run.run_dir / "clusters.csv", keep_default_na=False)["clips"].eq("").all()


@pytest.mark.parametrize("overrides, message", [
    (["outputs.clusters.clip_sr=44100"], "outputs.clusters.clip_sr=44100: must be a rate Opus encodes"),
    (["outputs.clusters.clip_format=flac"], "outputs.clusters.clip_format='flac': must be opus, vorbis or mp3"),
    (["outputs.clusters.n_clips=-1"], "outputs.clusters.n_clips=-1: must be an integer ≥ 0"),
])
def test_bad_cluster_output_settings_stop_before_any_work(make_cfg, tmp_path, overrides, message):
    from musiclust.errors import ConfigError
    from musiclust.pipeline import run_experiment

    with pytest.raises(ConfigError, match=message):
        run_experiment(make_cfg(*overrides, cache_dir=tmp_path / "cache"))
    assert not (tmp_path / "cache").exists()
