"""Lyrics cleaning, script-based language detection, and the clean-lyrics command."""

import unicodedata

import numpy as np
import pandas as pd
import pytest

from musiclust.columns import CLEAN_LYRICS
from musiclust.data.cli import main as data_main
from musiclust.data.language import detect_script, fill_language, script_shares
from musiclust.data.lyrics import clean_lyrics, read_lyrics_file
from musiclust.data.manifest import ManifestDataset
from musiclust.errors import ConfigError
from musiclust.features.text import LyricsTfidf

BANGLA = "আমি তোমাকে ভালোবাসি, ক্ষমা করো। শ্রাবণের মেঘ — বৃষ্টি ঝরে ৎ"


def bengali_chars(text: str) -> list[str]:
    return [c for c in text if 0x0980 <= ord(c) <= 0x09FF]


@pytest.mark.parametrize("raw, expected", [
    ("[Chorus]\nHello world", "Hello world"),
    ("[Verse 2: Someone feat. Other]\nline one", "line one"),
    ("Chorus:\n(Verse 2)\n{Hook x2}\nreal words", "real words"),
    ("[00:12.34]first line\n[01:02]second <00:03.10>word", "first line\nsecond word"),
    ("[ar:Artist]\n[ti:Title]\n[length: 03:25]\nsung", "sung"),
    ("see https://lyrics.example.com/x?id=1 and www.example.org now", "see and now"),
    ("Hello!!! ... *** ### ♪♪ world ~~~", "Hello world"),
    ("I’m rock-n-roll, don't stop - (oh yeah) x2", "I'm rock-n-roll don't stop oh yeah"),
    ("Bridge over troubled water\nBox 3", "Bridge over troubled water\nBox 3"),
    ("  \n\n[Instrumental]\n\n", ""),
])
def test_clean_lyrics_strips_annotations_and_noise(raw, expected):
    assert clean_lyrics(raw) == expected


def test_clean_lyrics_keeps_bengali_intact_and_normalises_to_nfc():
    cleaned = clean_lyrics(f"[Chorus]\n{BANGLA}")
    nfc = unicodedata.normalize("NFC", BANGLA)
    assert bengali_chars(cleaned) == bengali_chars(nfc)  # vowel signs, virama, khanda ta all kept, in order
    assert "\u09cd" in cleaned and "\u09ce" in cleaned  # virama, khanda ta
    assert "।" not in cleaned and "—" not in cleaned
    decomposed = unicodedata.normalize("NFD", BANGLA)
    assert decomposed != nfc and clean_lyrics(decomposed) == cleaned
    assert clean_lyrics("Cafe\u0301") == "Café" and unicodedata.is_normalized("NFC", clean_lyrics("Cafe\u0301"))


def test_clean_lyrics_is_idempotent_and_handles_missing_values():
    once = clean_lyrics("[Intro]\nHey! you... [00:01.00] there https://x.y")
    assert clean_lyrics(once) == once
    assert clean_lyrics(None) == "" and clean_lyrics(np.nan) == ""


@pytest.mark.parametrize("text, expected", [
    ("Hello darkness my old friend", "Latin"),
    ("Ça va très bien, señor", "Latin"),
    (BANGLA, "Bengali"),
    ("Привет, как дела", "other"),
    ("12345 !!! ...", None),
    ("", None),
])
def test_detect_script(text, expected):
    assert detect_script(text) == expected


def test_script_share_threshold_decides_between_a_script_and_mixed():
    text = "আমি তুমি ভালো " + "love"  # 11 Bengali letters and vowel signs, 4 Latin letters
    shares = script_shares(text)
    assert shares["Bengali"] == pytest.approx(11 / 15) and shares["Latin"] == pytest.approx(4 / 15)
    assert detect_script(text, threshold=0.6) == "Bengali"
    assert detect_script(text, threshold=0.8) == "mixed"
    assert detect_script("[Chorus] https://example.com আমি তুমি", threshold=0.9) == "Bengali"  # annotations ignored
    with pytest.raises(ValueError, match="between 0.5 and 1.0"):
        detect_script(text, threshold=0.3)


def test_fill_language_keeps_given_values_and_reports_its_source(caplog):
    frame = pd.DataFrame({
        "lyrics": ["hello there", BANGLA, "hello again", "", BANGLA],
        "language": ["English", None, "", None, "Bangla"],
    })
    with caplog.at_level("INFO", logger="musiclust.data.language"):
        out = fill_language(frame, "lyrics", detector="script")
    assert out["language"].tolist()[:3] == ["English", "Bengali", "Latin"]
    assert pd.isna(out["language"][3]) and out["language"][4] == "Bangla"
    assert out["language_source"].tolist() == ["manifest", "script", "script", "none", "manifest"]
    assert out["language_confidence"].iloc[1:3].tolist() == [1.0, 1.0]  # the script's share of letters
    assert out["language_confidence"].iloc[[0, 3, 4]].isna().all()
    assert "2 detected from the lyrics by script (Bengali 1, Latin 1), 1 undetermined" in caplog.text


def test_read_lyrics_file_accepts_utf8_and_boms_rejects_other_encodings(tmp_path):
    good = tmp_path / "a.txt"
    good.write_bytes("\ufeff" .encode("utf-8") + BANGLA.encode("utf-8"))
    assert read_lyrics_file(good) == (BANGLA, "")
    utf16 = tmp_path / "b.txt"
    utf16.write_text("naïve", encoding="utf-16")
    assert read_lyrics_file(utf16) == ("naïve", "")
    latin1 = tmp_path / "c.txt"
    latin1.write_bytes("café déjà vu".encode("cp1252"))
    text, problem = read_lyrics_file(latin1)
    assert text is None and problem.startswith("lyrics not UTF-8: c.txt") and "re-save the file as UTF-8" in problem


def test_dataset_option_adds_lyrics_clean_and_tfidf_uses_it(tmp_path):
    csv = tmp_path / "songs.csv"
    plain = ["love you tonight baby", "rain on the river road", "আমি তোমাকে ভালোবাসি", "নদী বৃষ্টি পথ আলো"]
    noisy = [f"[Verse 1]\n[00:0{i}.00]{t}!!! https://lyrics.example.com/{i}" for i, t in enumerate(plain)]
    pd.DataFrame({"id": list("abcd"), "lyrics": noisy}).to_csv(csv, index=False)
    manifest = ManifestDataset(str(csv), audio_col=None, clean_lyrics=True, language_detector="script").load()
    assert manifest[CLEAN_LYRICS].tolist() == plain
    assert manifest["language"].tolist() == ["Latin", "Latin", "Bengali", "Bengali"]
    cleaned = LyricsTfidf(min_df=1).compute(manifest).values
    reference = LyricsTfidf(min_df=1).compute(pd.DataFrame({"id": list("abcd"), "lyrics": plain})).values
    np.testing.assert_allclose(cleaned, reference, atol=1e-6)
    raw = ManifestDataset(str(csv), audio_col=None, language_detector="none").load()
    assert CLEAN_LYRICS not in raw.columns and "language" not in raw.columns
    with pytest.raises(ConfigError, match=r"dataset.language_threshold=0.3: .* between 0.5 and 1.0"):
        ManifestDataset(str(csv), language_threshold=0.3)


def test_clean_lyrics_command_writes_a_new_csv(tmp_path, capsys):
    csv = tmp_path / "songs.csv"
    pd.DataFrame({"id": ["1", "2", "3"], "text": ["[Chorus] Hello!!", BANGLA, "[Instrumental]"],
                  "language": ["English", "", ""]}).to_csv(csv, index=False)
    assert data_main(["clean-lyrics", str(csv), "--column", "text"]) == 0
    out = pd.read_csv(tmp_path / "songs.clean.csv", dtype=str, keep_default_na=False)
    assert out[CLEAN_LYRICS].tolist() == ["Hello", clean_lyrics(BANGLA), ""]
    assert out["language"].tolist() == ["English", "bn", ""]  # lingua by default
    assert out["language_source"].tolist() == ["manifest", "lingua", "none"]
    assert "1 empty after cleaning" in capsys.readouterr().out
    assert data_main(["clean-lyrics", str(csv), "--column", "text", "--language-detector", "script",
                      "--out", str(tmp_path / "script.csv")]) == 0
    out = pd.read_csv(tmp_path / "script.csv", dtype=str, keep_default_na=False)
    assert out["language"].tolist() == ["English", "Bengali", ""]
    assert out["language_source"].tolist() == ["manifest", "script", "none"]
    capsys.readouterr()
    assert data_main(["clean-lyrics", str(csv), "--column", "text", "--candidates", "en", "xx"]) == 2
    assert "--candidates=['en', 'xx']: xx not among lingua's languages" in capsys.readouterr().err
    assert data_main(["clean-lyrics", str(csv)]) == 2  # no 'lyrics' column
    assert "no column 'lyrics'" in capsys.readouterr().err
