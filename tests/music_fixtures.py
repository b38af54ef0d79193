"""Builders for real-format music fixtures: audio folders, broken files, a JamendoLyrics copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from musiclust.data.demo import GENRES, WORDS, synthesise_lyrics, synthesise_song

SR = 22050
SECONDS = 1.5
FORMATS = {".wav": {"subtype": "PCM_16"}, ".flac": {}, ".mp3": {"format": "MP3"}, ".ogg": {"format": "OGG"}}


def write_song(path: Path, genre: str, seed: int, seconds: float = SECONDS) -> Path:
    """A short synthesised song of ``genre`` in the format given by the suffix of ``path``."""
    audio = synthesise_song(GENRES[genre], np.random.default_rng([seed, len(genre)]), SR, seconds)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, SR, **FORMATS[path.suffix])
    return path


def lyrics_for(genre: str, language: str, seed: int) -> str:
    return synthesise_lyrics(genre, language, np.random.default_rng(seed))


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut a file short, as an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def text_as_audio(path: Path) -> Path:
    """A text file renamed to an audio extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("these are not the samples you are looking for\n" * 20, encoding="utf-8")
    return path


def make_music_folder(root: Path, per_genre: int = 6, genres=("rock", "folk", "ambient")) -> dict[str, list[str]]:
    """``root/{genre}/*.{wav,flac,mp3,ogg}`` with lyrics sidecars (rock en, folk bn, ambient none)
    plus three broken files. Returns the ids of the good and the broken songs."""
    suffixes = list(FORMATS)
    good, broken = [], []
    for g, genre in enumerate(genres):
        for i in range(per_genre):
            song = root / genre / f"{genre}_{i:02d}{suffixes[i % len(suffixes)]}"
            write_song(song, genre, seed=100 * g + i)
            if genre != "ambient":
                language = "en" if genre == "rock" else "bn"
                song.with_suffix(".txt").write_text(lyrics_for(genre, language, i), encoding="utf-8")
            good.append(f"{genre}/{song.stem}")
    truncate(write_song(root / "rock" / "cut_short.wav", "rock", seed=999))
    corrupt = root / "folk" / "corrupt.flac"
    corrupt.write_bytes(b"fLaC" + np.random.default_rng(0).bytes(4000))
    text_as_audio(root / "ambient" / "notes.wav")
    broken += ["rock/cut_short", "folk/corrupt", "ambient/notes"]
    (root / ".DS_Store").write_bytes(b"\x00\x01")
    (root / "rock" / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    return {"good": good, "broken": broken}


JAMENDO_SONGS = [  # Filepath stem, Artist, Title, Genre, Language
    ("Alpha_-_Rise", "Alpha", "Rise", "Rock", "English"),
    ("Beta_-_Glow", "Beta", "Glow", "Electronic", "English"),
    ("Gamma_-_Drift", "Gamma", "Drift", "Rock", "English"),
    ("Delta_-_[Intro]_Neon", "Delta", "Neon", "Electronic", "English"),
    ("Eins_-_Zwei", "Eins", "Zwei", "Pop", "German"),
    ("Drei_-_Vier", "Drei", "Vier", "Rock", "German"),
]


def make_jamendo(root: Path, languages=("English", "German"), audio_languages=("English",),
                 lyrics_languages=None) -> Path:
    """A small copy of the JamendoLyrics layout: metadata CSV, lyrics/{stem}.txt, subsets/{code}/mp3/,
    and the top-level mp3/ folder of Git symlink stubs the Hub repository also has. Lyrics are written
    for ``lyrics_languages`` (default: all ``languages``), audio for ``audio_languages``."""
    lyrics_languages = languages if lyrics_languages is None else lyrics_languages
    codes = {"English": "en", "German": "de"}
    rows = []
    for i, (stem, artist, title, genre, language) in enumerate(JAMENDO_SONGS):
        if language not in languages:
            continue
        rows.append({"URL": f"https://example.org/track/{i}", "Filepath": f"{stem}.mp3", "Artist": artist,
                     "Title": title, "Genre": genre, "LicenseType": "CC BY", "Language": language,
                     "LyricOverlap": "false", "Polyphonic": "false", "NonLexical": "false"})
        if language in lyrics_languages:
            lyrics = root / "lyrics" / f"{stem}.txt"
            lyrics.parent.mkdir(parents=True, exist_ok=True)
            words = WORDS["en"]["common"] if language == "English" else ["ich", "du", "liebe", "nacht"]
            lyrics.write_text(" ".join(words[(i + j) % len(words)] for j in range(12)), encoding="utf-8")
        if language in audio_languages:
            write_song(root / "subsets" / codes[language] / "mp3" / f"{stem}.mp3",
                       "rock" if genre == "Rock" else "electronic", seed=i)
            stub = root / "mp3" / f"{stem}.mp3"
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text(f"../subsets/{codes[language]}/mp3/{stem}.mp3")
    pd.DataFrame(rows).to_csv(root / "JamendoLyrics.csv", index=False)
    return root
