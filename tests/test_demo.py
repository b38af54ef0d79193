"""The embedded demo dataset: deterministic, real WAV audio, English and Bangla lyrics."""

import hashlib

import pandas as pd
import soundfile as sf

from musiclust.data.cli import main as data_main
from musiclust.data.demo import GENRES, generate_demo


def _digest(folder):
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def test_demo_is_deterministic(tmp_path):
    generate_demo(tmp_path / "a", n_songs=12, duration=1.0)
    generate_demo(tmp_path / "b", n_songs=12, duration=1.0)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    generate_demo(tmp_path / "c", n_songs=12, duration=1.0, seed=1)
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_demo_manifest_and_audio(demo_root):
    manifest = pd.read_csv(demo_root / "manifest.csv")
    assert {"id", "audio_path", "lyrics", "language", "genre"} <= set(manifest.columns)
    assert set(manifest["genre"]) == set(GENRES)
    assert set(manifest["language"]) == {"en", "bn"}  # ISO 639-1, the codes language detection writes
    bangla = manifest.loc[manifest["language"] == "bn", "lyrics"]
    assert all(any("\u0980" <= ch <= "\u09ff" for ch in text) for text in bangla)
    info = sf.info(demo_root / manifest["audio_path"].iloc[0])
    assert info.samplerate == 22050 and info.format == "WAV" and info.duration > 1.5


def test_musiclust_data_demo_cli(tmp_path, capsys):
    assert data_main(["demo", "--out", str(tmp_path / "d"), "--n", "8", "--duration", "1"]) == 0
    assert len(pd.read_csv(tmp_path / "d" / "manifest.csv")) == 8
    assert "wrote 8 songs" in capsys.readouterr().out


def test_a_demo_generated_by_an_older_musiclust_is_generated_again(tmp_path):
    import json

    from musiclust.data.demo import DemoDataset

    root = tmp_path / "demo"
    generate_demo(root, n_songs=6, duration=0.5)
    manifest = pd.read_csv(root / "manifest.csv")
    manifest["language"] = manifest["language"].map({"en": "English", "bn": "Bangla"})  # what 0.1 wrote
    manifest.to_csv(root / "manifest.csv", index=False)
    (root / "demo.json").write_text(json.dumps({"n_songs": 6, "seed": 0, "sr": 22050, "duration": 0.5}))
    loaded = DemoDataset(root=str(root), n_songs=6, duration=0.5).load()
    assert set(loaded["language"]) <= {"en", "bn"}
