"""Real datasets: a music folder, any CSV manifest, and the JamendoLyrics layout (plus its downloader)."""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from musiclust.data import FolderDataset, JamendoDataset, ManifestDataset
from musiclust.data.cli import main as data_main
from musiclust.errors import DataError
from musiclust.pipeline import run_experiment
from tests.conftest import compose_config
from tests.music_fixtures import make_jamendo, make_music_folder, write_song

# t-SNE plots and checkpoints are tested elsewhere; t-SNE alone costs seconds on a busy machine
FAST = ["model=pca", "trainer.enable_progress_bar=false", "~outputs.projections",
        "~callbacks.model_checkpoint", "feature.n_jobs=1"]


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path_factory.mktemp("music")
    return root, make_music_folder(root)


def test_music_folder_runs_end_to_end_and_reports_broken_files(music, tmp_path):
    root, ids = music
    cfg = compose_config([*FAST, "dataset=folder", f"dataset.path={root}", "feature=mfcc", "k=3",
                          f"paths.cache_dir={tmp_path / 'cache'}"], tmp_path / "run")
    result = run_experiment(cfg)
    assert sorted(result.ids) == sorted(ids["good"])  # wav, flac, mp3 and ogg all decoded
    skipped = pd.read_csv(tmp_path / "run" / "skipped.csv").set_index("id")["reason"]
    assert sorted(skipped.index) == sorted(ids["broken"])
    assert skipped["folk/corrupt"].startswith("unreadable audio")
    assert skipped["ambient/notes"].startswith("unreadable audio: Format not recognised")
    assert skipped["rock/cut_short"].startswith("truncated audio")
    metrics = pd.read_csv(tmp_path / "run" / "clustering_metrics.csv").iloc[0]
    assert metrics["n_skipped"] == 3 and metrics["dataset"] == "folder"
    assert metrics["largest_class_share"] == pytest.approx(1 / 3)
    assert metrics["nmi"] > 0.2  # three synthesised genres, labels from the sub-folder names
    assert (tmp_path / "run" / "cluster_distributions" / "clusters_by_genre.png").exists()


def test_folder_reads_sidecars_labels_and_languages(music):
    root, ids = music
    manifest = FolderDataset(str(root)).load().set_index("id")
    assert sorted(manifest.index) == sorted(ids["good"] + ids["broken"])  # .DS_Store and cover.jpg ignored
    assert manifest.loc["rock/rock_02", "genre"] == "rock"
    assert manifest.loc["rock/rock_02", "audio_path"] == str((root / "rock" / "rock_02.mp3").resolve())
    assert manifest.loc["folk/folk_00", "lyrics"] == (root / "folk" / "folk_00.txt").read_text(encoding="utf-8")
    assert manifest.loc["rock/rock_00", "language"] == "en"  # lingua, from the sidecar lyrics
    assert manifest.loc["folk/folk_01", "language"] == "bn"
    assert pd.isna(manifest.loc["ambient/ambient_00", "lyrics"])
    assert manifest.loc["ambient/ambient_00", "language_source"] == "none"
    assert manifest.loc["folk/folk_01", "language_source"] == "lingua"


def test_flat_folder_has_no_label_column(tmp_path):
    for i, suffix in enumerate([".wav", ".flac", ".mp3"]):
        write_song(tmp_path / f"song{i}{suffix}", "rock", seed=i, seconds=0.5)
    manifest = FolderDataset(str(tmp_path)).load()
    assert manifest["id"].tolist() == ["song0", "song1", "song2"]
    assert "genre" not in manifest.columns and "lyrics" not in manifest.columns
    with pytest.raises(DataError, match=r"dataset.label_columns: \['genre'\] not in .* or \[\] \(and label_col=null\)"):
        FolderDataset(str(tmp_path), label_columns=["genre"]).load()
    nested = tmp_path / "nested"
    write_song(nested / "Jazz" / "live" / "take1.wav", "folk", seed=1, seconds=0.5)
    labelled = FolderDataset(str(nested), subfolder_label="style", label_columns=["style"]).load()
    assert labelled[["id", "style"]].values.tolist() == [["Jazz/live/take1", "Jazz"]]


def test_same_song_in_two_formats_is_a_reported_duplicate(tmp_path):
    write_song(tmp_path / "a" / "song.mp3", "rock", seed=1, seconds=0.5)
    write_song(tmp_path / "a" / "song.wav", "rock", seed=1, seconds=0.5)
    write_song(tmp_path / "a" / "other.wav", "folk", seed=2, seconds=0.5)
    dataset = FolderDataset(str(tmp_path))
    manifest = dataset.load()
    assert manifest["id"].tolist() == ["a/other", "a/song"]
    assert manifest.loc[1, "audio_path"].endswith("song.mp3")
    reason = dataset.skipped.set_index("id").loc["a/song", "reason"]
    assert reason.startswith("duplicate id:") and "song.wav has the same id as" in reason and "song.mp3" in reason


def test_manifest_maps_columns_and_resolves_paths_against_the_csv_folder(tmp_path):
    audio = tmp_path / "audio"
    write_song(audio / "x.wav", "rock", seed=1, seconds=0.5)
    elsewhere = write_song(tmp_path / "elsewhere" / "y.flac", "folk", seed=2, seconds=0.5)
    lists = tmp_path / "lists"
    lists.mkdir()
    pd.DataFrame({
        "track": ["007", "008", "009"], "file": ["../audio/x.wav", str(elsewhere), None],
        "text": ["hello", "আমি", "bonjour"], "style": ["rock", "folk", "pop"], "language": ["en", "", "fr"],
    }).to_csv(lists / "songs.csv", index=False)
    dataset = ManifestDataset(str(lists / "songs.csv"), id_col="track", audio_col="file", lyrics_col="text",
                              label_columns=["style"])
    manifest = dataset.load()
    assert manifest["id"].tolist() == ["007", "008", "009"]  # ids stay strings, leading zeros kept
    assert manifest["audio_path"].tolist()[:2] == [str((audio / "x.wav").resolve()), str(elsewhere.resolve())]
    assert pd.isna(manifest["audio_path"][2])
    assert manifest["lyrics"].tolist() == ["hello", "আমি", "bonjour"]
    assert manifest["language"].tolist() == ["en", "bn", "fr"]  # "আমি": Bengali script, one language of it
    assert dataset.skipped.empty


def test_jamendo_loader_reads_the_layout(tmp_path, caplog):
    root = make_jamendo(tmp_path / "jamendo", audio_languages=("English",), lyrics_languages=("English",))
    with caplog.at_level("INFO", logger="musiclust.data.jamendo"):
        manifest = JamendoDataset(str(root)).load()
    assert "nothing downloaded for German" in caplog.text
    assert manifest["id"].tolist() == ["Alpha_-_Rise", "Beta_-_Glow", "Gamma_-_Drift", "Delta_-_[Intro]_Neon"]
    assert {"artist", "title", "genre", "language", "filepath", "license_type", "lyric_overlap"} <= set(manifest)
    assert set(manifest["language"]) == {"English"} and set(manifest["language_source"]) == {"manifest"}
    assert manifest["genre"].tolist() == ["Rock", "Electronic", "Rock", "Electronic"]
    for path in manifest["audio_path"]:  # the real mp3s, not the top-level symlink stubs
        assert "/subsets/en/mp3/" in path and Path(path).stat().st_size > 1024
    assert manifest["lyrics"][0] == (root / "lyrics" / "Alpha_-_Rise.txt").read_text(encoding="utf-8")
    german = JamendoDataset(str(root), language="de").load()  # asked for explicitly: missing audio is reported
    assert german["id"].tolist() == ["Eins_-_Zwei", "Drei_-_Vier"]
    assert german["audio_path"][0] == str((root / "subsets" / "de" / "mp3" / "Eins_-_Zwei.mp3").resolve())
    with pytest.raises(DataError, match=r"JamendoLyrics has no language \['Klingon'\] \(languages: "
                                        r"English, German, or all\)"):
        JamendoDataset(str(root), language="Klingon").load()
    with pytest.raises(DataError, match="musiclust-data jamendo --language English --out"):
        JamendoDataset(str(tmp_path / "nowhere")).load()


def test_jamendo_runs_end_to_end(tmp_path):
    root = make_jamendo(tmp_path / "jamendo", languages=("English",))
    cfg = compose_config([*FAST, "dataset=jamendo", f"dataset.path={root}", "feature=mfcc", "k=2",
                          f"paths.cache_dir={tmp_path / 'cache'}"], tmp_path / "run")
    result = run_experiment(cfg)
    assert len(result.ids) == 4 and result.metrics["n_skipped"] == 0


class FakeHub:
    """A local stand-in for the Hub: serves files from ``root`` the way huggingface_hub would."""

    def __init__(self, root: Path, error: Exception | None = None) -> None:
        self.root, self.error, self.patterns = root, error, None

    def _copy(self, relative: str, local_dir: str) -> str:
        target = Path(local_dir) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.root / relative, target)
        return str(target)

    def hf_hub_download(self, repo_id, filename, *, repo_type, local_dir, revision=None, token=None):
        assert repo_id == "jamendolyrics/jamendolyrics" and repo_type == "dataset"
        if self.error is not None:
            raise self.error
        return self._copy(filename, local_dir)

    def snapshot_download(self, repo_id, *, repo_type, local_dir, allow_patterns, revision=None, token=None):
        self.patterns = list(allow_patterns)
        for file in self.root.rglob("*"):
            relative = file.relative_to(self.root).as_posix()
            if file.is_file() and any(fnmatch.fnmatch(relative, p) for p in allow_patterns):
                self._copy(relative, local_dir)
        return local_dir


def _install(monkeypatch, hub: FakeHub) -> None:
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub.hf_hub_download)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub.snapshot_download)


def test_download_fetches_one_language(tmp_path, monkeypatch, capsys):
    hub = FakeHub(make_jamendo(tmp_path / "hub", audio_languages=("English", "German")))
    _install(monkeypatch, hub)
    out = tmp_path / "data" / "jamendo"
    assert data_main(["jamendo", "--language", "English", "--out", str(out)]) == 0
    assert f"downloaded 4 songs (English) into {out}" in capsys.readouterr().out
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["JamendoLyrics.csv", "lyrics/Alpha_-_Rise.txt", "lyrics/Beta_-_Glow.txt",
                     "lyrics/Delta_-_[Intro]_Neon.txt", "lyrics/Gamma_-_Drift.txt",
                     "subsets/en/mp3/Alpha_-_Rise.mp3", "subsets/en/mp3/Beta_-_Glow.mp3",
                     "subsets/en/mp3/Delta_-_[Intro]_Neon.mp3", "subsets/en/mp3/Gamma_-_Drift.mp3"]
    assert len(JamendoDataset(str(out)).load()) == 4


def _hub_error(kind: str) -> Exception:
    from huggingface_hub import errors

    cls = {"gated": errors.GatedRepoError, "missing": errors.RepositoryNotFoundError}[kind]
    err = cls.__new__(cls)  # raised as the Hub raises it; the HTTP response is not needed here
    Exception.__init__(err, "403 Client Error")
    return err


@pytest.mark.parametrize("error, needles", [
    ("gated", ["is a gated dataset", "huggingface-cli login", "HF_TOKEN"]),
    ("missing", ["cannot access jamendolyrics/jamendolyrics", "huggingface-cli login"]),
    ("offline", ["cannot reach the Hugging Face Hub", "Connect to the internet"]),
])
def test_download_errors_say_what_to_do(tmp_path, monkeypatch, capsys, error, needles):
    from huggingface_hub import errors

    exc = errors.LocalEntryNotFoundError("connection error") if error == "offline" else _hub_error(error)
    _install(monkeypatch, FakeHub(tmp_path, error=exc))
    assert data_main(["jamendo", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("musiclust-data jamendo: error: ")
    for needle in needles:
        assert needle in err


def test_download_with_nothing_arriving_fails_clearly(tmp_path, monkeypatch, capsys):
    hub = FakeHub(make_jamendo(tmp_path / "hub", audio_languages=()))
    _install(monkeypatch, hub)
    assert data_main(["jamendo", "--language", "en", "--out", str(tmp_path / "out")]) == 2
    assert "no audio arrived" in capsys.readouterr().err
    assert hub.patterns is not None and "subsets/en/mp3/*.mp3" in hub.patterns


def test_lyrics_song_keys_change_with_cleaning_option(music):
    from musiclust.features.text import LyricsTfidf

    root, _ = music
    plain = FolderDataset(str(root)).load()
    cleaned = FolderDataset(str(root), clean_lyrics=True).load()
    assert "lyrics_clean" in cleaned.columns
    keys_plain, keys_cleaned = LyricsTfidf().song_keys(plain), LyricsTfidf().song_keys(cleaned)
    changed = plain["lyrics"].to_numpy() != cleaned["lyrics_clean"].to_numpy()
    assert changed.any()
    np.testing.assert_array_equal(keys_plain != keys_cleaned, changed)  # the feature reads lyrics_clean
    np.testing.assert_array_equal(plain["id"], cleaned["id"])
