"""Bad data is harmless: per-item problems are skipped and listed, dataset-level problems stop at once
with one message that names the path or column and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from musiclust.data import FolderDataset, JamendoDataset, ManifestDataset
from musiclust.errors import DataError
from musiclust.features.audio import decode
from musiclust.pipeline import run_experiment
from tests.conftest import compose_config, run_cli
from tests.music_fixtures import SR, lyrics_for, make_jamendo, text_as_audio, truncate, write_song


def _write(path: Path, signal: np.ndarray, **kwargs) -> str:
    sf.write(path, signal, SR, **kwargs)
    return str(path)


@pytest.mark.parametrize("make, reason", [
    (lambda d: str(d / "absent.wav"), "missing file: "),
    (lambda d: "nan", "no audio path"),
    (lambda d: (d / "empty.wav").write_bytes(b"") or str(d / "empty.wav"), "empty file: "),
    (lambda d: str(text_as_audio(d / "notes.wav")), "unreadable audio: Format not recognised. (notes.wav)"),
    (lambda d: str(truncate(write_song(d / "cut.wav", "rock", 1))), "truncated audio: the header declares"),
    (lambda d: str(truncate(write_song(d / "cut.mp3", "rock", 1))), "truncated audio: "),
    (lambda d: str(truncate(write_song(d / "cut.flac", "rock", 1))), "unreadable audio: "),
    (lambda d: str(truncate(write_song(d / "cut.ogg", "rock", 1))), "unreadable audio: no decodable samples"),
    (lambda d: _write(d / "quiet.wav", np.zeros(SR)), "silent audio"),
    (lambda d: _write(d / "blip.flac", 0.5 * np.ones(SR // 10)), "too short: 0.10s < min_duration=0.5s"),
    (lambda d: _write(d / "nan.wav", np.full(SR, np.nan), subtype="FLOAT"), "bad samples"),
])
def test_decode_gives_a_reason_for_each_bad_file(tmp_path, make, reason):
    signal, why = decode(make(tmp_path), sr=SR, duration=None, min_duration=0.5)
    assert signal is None and why.startswith(reason), why


def test_decode_reads_every_supported_format_like_librosa(tmp_path):
    import librosa

    for suffix in (".wav", ".flac", ".mp3", ".ogg"):
        path = str(write_song(tmp_path / f"song{suffix}", "folk", seed=3))
        signal, why = decode(path, sr=16000, duration=1.0, min_duration=0.5)
        reference, _ = librosa.load(path, sr=16000, duration=1.0)
        assert why == "" and signal.shape == (16000,)
        np.testing.assert_array_equal(signal, reference)


@pytest.fixture(scope="module")
def messy_folder(tmp_path_factory) -> Path:
    """13 files: 10 good songs with lyrics, one same song in two formats, one cp1252 sidecar, one without lyrics."""
    root = tmp_path_factory.mktemp("messy")
    for i in range(10):
        genre, language = ("rock", "en") if i % 2 else ("folk", "bn")
        song = write_song(root / genre / f"s{i}.wav", genre, seed=i, seconds=0.5)
        song.with_suffix(".txt").write_text(lyrics_for(genre, language, i), encoding="utf-8")
    write_song(root / "rock" / "s1.flac", "rock", seed=1, seconds=0.5)  # s1 again: a duplicate id
    write_song(root / "folk" / "legacy.wav", "folk", seed=20, seconds=0.5)
    (root / "folk" / "legacy.txt").write_bytes("Ça c'est la vie, déjà vu".encode("cp1252"))
    write_song(root / "rock" / "instrumental.wav", "rock", seed=21, seconds=0.5)
    return root


def _lyrics_run(root: Path, tmp_path: Path, *overrides: str):
    cfg = compose_config([
        "dataset=folder", f"dataset.path={root}", "feature=lyrics_tfidf", "model=pca", "k=2",
        "trainer.enable_progress_bar=false", "~outputs.projections", "~callbacks.model_checkpoint",
        f"paths.cache_dir={tmp_path / 'cache'}", *overrides,
    ], tmp_path / "run")
    return run_experiment(cfg)


def test_dataset_and_feature_skips_share_one_report(messy_folder, tmp_path, caplog):
    with caplog.at_level("WARNING", logger="musiclust.pipeline"):
        result = _lyrics_run(messy_folder, tmp_path, "max_skip_fraction=0.3")
    skipped = pd.read_csv(tmp_path / "run" / "skipped.csv")
    assert skipped[["id", "stage"]].values.tolist() == [
        ["folk/legacy", "dataset"], ["rock/s1", "dataset"], ["rock/instrumental", "lyrics"]]
    reasons = dict(zip(skipped["id"], skipped["reason"], strict=True))
    assert reasons["folk/legacy"].startswith("lyrics not UTF-8: legacy.txt")
    assert reasons["rock/s1"].startswith("duplicate id: ") and "s1.wav has the same id as" in reasons["rock/s1"]
    assert reasons["rock/instrumental"] == "empty lyrics: no text in column 'lyrics'"
    lines = [r.getMessage() for r in caplog.records if "Skipped" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith("Skipped 3 of 13 songs (") and "1× duplicate id" in lines[0]
    assert "1× lyrics not UTF-8" in lines[0] and "1× empty lyrics" in lines[0]
    assert sorted(result.ids) == sorted(f"{'rock' if i % 2 else 'folk'}/s{i}" for i in range(10))
    assert result.metrics["n_skipped"] == 3 and result.metrics["nmi"] > 0.9  # English vs Bangla lyrics


def test_too_many_skipped_fails_but_keeps_the_list(messy_folder, tmp_path):
    with pytest.raises(DataError, match=r"3 of 13 songs \(23%\) could not be used .* max_skip_fraction=0.2"):
        _lyrics_run(messy_folder, tmp_path)
    assert len(pd.read_csv(tmp_path / "run" / "skipped.csv")) == 3


def test_fewer_songs_left_than_clusters_fails(messy_folder, tmp_path):
    with pytest.raises(DataError, match="only 10 songs remain after skipping, fewer than k=11"):
        _lyrics_run(messy_folder, tmp_path, "max_skip_fraction=0.5", "k=11")


def _csv(path: Path, frame: pd.DataFrame) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def _jamendo_without_language(root: Path) -> str:
    make_jamendo(root, audio_languages=())
    _csv(root / "JamendoLyrics.csv", pd.read_csv(root / "JamendoLyrics.csv").drop(columns="Language"))
    return str(root)


@pytest.mark.parametrize("make_dataset, message", [
    (lambda d: FolderDataset(str(d / "nope")), r"dataset.path: '.*nope' does not exist. Point dataset.path at a "),
    (lambda d: FolderDataset(_csv(d / "a.csv", pd.DataFrame({"id": [1]}))), r"is a file, not a folder \(a CSV\? "),
    (lambda d: FolderDataset(str(d)), r"dataset.path: no audio files \(wav, flac, ogg, mp3\) under"),
    (lambda d: ManifestDataset(str(d / "songs.csv")), r"dataset.path: no such CSV file '.*songs.csv'"),
    (lambda d: ManifestDataset(str(d)), r"\(that is a folder: use dataset=folder\)"),
    (lambda d: ManifestDataset(_csv(d / "a.csv", pd.DataFrame({"track": [1], "lyrics": ["x"]}))),
     r"no id column 'id' \(columns: track, lyrics\). Set dataset.id_col=<column>."),
    (lambda d: ManifestDataset(_csv(d / "a.csv", pd.DataFrame({"id": [1], "path": ["x.wav"]})), audio_col="file"),
     r"dataset.audio_col='file' is not a column of .*a.csv \(columns: id, path\)"),
    (lambda d: ManifestDataset(_csv(d / "a.csv", pd.DataFrame({"id": [1], "mood": [2]}))),
     r"needs an 'audio_path' or a 'lyrics' column"),
    (lambda d: ManifestDataset(_csv(d / "a.csv", pd.DataFrame({"id": [1], "lyrics": ["x"]})), label_columns=["genre"]),
     r"dataset.label_columns: \['genre'\] not in .*a.csv \(columns: id, lyrics\)"),
    (lambda d: ManifestDataset(_csv(d / "a.csv", pd.DataFrame({"song": [1], "id": [2], "lyrics": ["x"]})),
                               id_col="song"), r"both 'song' \(dataset.id_col\) and 'id' columns exist"),
    (lambda d: (d / "a.csv").write_bytes("id,lyrics\n1,déjà\n".encode("cp1252")) and ManifestDataset(str(d / "a.csv")),
     r"cannot be read as CSV .* Save it as UTF-8 CSV"),
    (lambda d: ManifestDataset(_csv(d / "a.csv", pd.DataFrame({"id": ["", ""], "lyrics": ["x", "y"]}))),
     r"none of the 2 items is usable \(first: : missing id: manifest row 2 has no id\)"),
    (lambda d: JamendoDataset(str(d)), r"JamendoLyrics: no metadata file .*JamendoLyrics.csv'. Download the dataset"),
    (lambda d: JamendoDataset(_jamendo_without_language(d)), r"missing column\(s\) \['Language'\]"),
])
def test_dataset_level_problems_fail_at_start(tmp_path, make_dataset, message):
    with pytest.raises(DataError, match=message):
        make_dataset(tmp_path).load()


def _one_clear_error(proc, *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, output
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_cli_manifest_with_wrong_label_column(tmp_path):
    csv = _csv(tmp_path / "songs.csv", pd.DataFrame({
        "id": list("abcdef"), "lyrics": ["hello you", "আমি তুমি", "night rain", "নদী গান", "fire sky", "মন রাত"],
        "Genre": ["pop", "folk"] * 3,
    }))
    proc = run_cli("dataset=manifest", f"dataset.path={csv}", "feature=lyrics_tfidf", "model=pca", "k=2",
                   f"paths.root_dir={tmp_path}", cwd=tmp_path)
    _one_clear_error(proc, "label_col='genre' is not a column of the dataset", "Genre", "label_col=<one of those>")


def test_cli_folder_that_does_not_exist(tmp_path):
    proc = run_cli("dataset=folder", f"dataset.path={tmp_path / 'my music'}", f"paths.root_dir={tmp_path}",
                   cwd=tmp_path)
    _one_clear_error(proc, "dataset.path:", "my music' does not exist", "Point dataset.path at a folder")
