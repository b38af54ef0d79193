"""The embedded demo dataset: synthesised songs in six genres with English and Bangla lyrics.

Everything is generated from a seed (no network). Genres differ in tempo, timbre (harmonic
content), rhythm and pitch range; per-song jitter, shared instruments and noise keep the
clustering from being trivially perfect.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from musiclust.columns import AUDIO
from musiclust.data.manifest import Dataset, validate_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenreStyle:
    tempo: tuple[float, float]  # beats per minute
    pitch: tuple[int, int]  # MIDI note range of the melody
    harmonics: int  # number of partials of the lead instrument
    rolloff: float  # amplitude of partial h is h ** -rolloff
    kick: float  # loudness of the kick on beats
    snare: float  # loudness of noise bursts on off-beats
    hats: float  # loudness of short high noise ticks on eighth notes
    vibrato: float  # vibrato depth in semitones
    pluck: float  # note decay rate (0 = sustained pad, large = plucked)
    bass: float  # loudness of a bass line an octave or two below


GENRES: dict[str, GenreStyle] = {
    "ambient": GenreStyle((60, 80), (48, 62), 3, 2.2, 0.0, 0.0, 0.05, 0.05, 0.5, 0.3),
    "rock": GenreStyle((105, 135), (50, 66), 12, 0.9, 0.9, 0.6, 0.2, 0.1, 2.0, 0.6),
    "electronic": GenreStyle((118, 138), (55, 72), 8, 1.1, 1.0, 0.2, 0.5, 0.0, 4.0, 0.7),
    "folk": GenreStyle((80, 110), (55, 74), 6, 1.5, 0.2, 0.15, 0.05, 0.1, 7.0, 0.2),
    "hiphop": GenreStyle((80, 98), (40, 55), 5, 1.6, 1.0, 0.8, 0.35, 0.0, 3.0, 1.0),
    "classical": GenreStyle((65, 100), (62, 84), 9, 1.3, 0.0, 0.0, 0.0, 0.35, 1.0, 0.25),
}

#: bump when what generate_demo writes changes, so that demo sets generated before are generated again
DEMO_VERSION = 2
#: the lyrics' languages, as ISO 639-1 codes (the codes language detection writes): English, Bangla
LANGUAGES = ("en", "bn")

WORDS = {
    "en": {
        "common": "i you love heart night day dream eyes road light rain flower wind time life home "
        "sky river song fire soul hold never always come go feel".split(),
        "ambient": "quiet calm cloud wave drift slow breathe still".split(),
        "rock": "thunder scream rebel storm loud burn break wild".split(),
        "electronic": "neon dance city pulse machine laser circuit glow".split(),
        "folk": "village field boatman harvest mountain fiddle meadow shore".split(),
        "hiphop": "street money truth fight hustle block crew grind".split(),
        "classical": "raga melody harp dawn sonata grace chorus hymn".split(),
    },
    "bn": {
        "common": "আমি তুমি ভালোবাসা মন রাত দিন স্বপ্ন চোখ পথ আলো বৃষ্টি ফুল বাতাস সময় জীবন ঘর "
        "আকাশ নদী গান আগুন প্রাণ ধরো কখনো সবসময় এসো যাও".split(),
        "ambient": "শান্ত নীরব মেঘ ঢেউ ধীরে নিঃশ্বাস স্থির ছায়া".split(),
        "rock": "বজ্র চিৎকার বিদ্রোহ ঝড় জোরে পোড়া ভাঙা বুনো".split(),
        "electronic": "নিয়ন নাচ শহর স্পন্দন যন্ত্র লেজার তার ঝলক".split(),
        "folk": "গ্রাম মাঠ মাঝি ফসল পাহাড় একতারা প্রান্তর তীর".split(),
        "hiphop": "রাস্তা টাকা সত্য লড়াই খাটুনি পাড়া দল ঘাম".split(),
        "classical": "রাগ সুর বীণা প্রভাত সোনাটা কৃপা কোরাস স্তব".split(),
    },
}


def _midi_to_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


def _noise_burst(rng: np.random.Generator, n: int, sr: int, decay: float, highpass: bool) -> np.ndarray:
    burst = rng.standard_normal(n)
    if highpass:
        burst = np.diff(burst, prepend=0.0)
    return burst * np.exp(-np.arange(n) / (decay * sr))


def synthesise_song(style: GenreStyle, rng: np.random.Generator, sr: int, duration: float) -> np.ndarray:
    """One song: melody + bass + drums + noise, every parameter jittered per song."""
    n = int(sr * duration)
    t = np.arange(n) / sr
    audio = np.zeros(n)
    tempo = rng.uniform(*style.tempo)
    beat = 60.0 / tempo
    note_len = beat / 2 if style.pluck > 3 else beat
    harmonics = max(1, style.harmonics + int(rng.integers(-2, 3)))
    rolloff = style.rolloff * rng.uniform(0.8, 1.25)
    key = rng.integers(style.pitch[0], style.pitch[1] - 7)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    start = 0.0
    while start < duration:
        note = key + rng.choice(scale) + rng.normal(0, 0.05)
        freq = _midi_to_hz(note)
        mask = (t >= start) & (t < start + note_len)
        local = t[mask] - start
        envelope = np.exp(-style.pluck * local) * np.minimum(1.0, local / 0.01)
        phase_mod = style.vibrato * np.sin(2 * np.pi * 5.5 * local) / 12.0
        tone = np.zeros(local.size)
        for h in range(1, harmonics + 1):
            if freq * h < sr / 2:
                tone += h**-rolloff * np.sin(2 * np.pi * freq * h * local * 2.0**phase_mod)
        audio[mask] += 0.5 * envelope * tone
        if style.bass > 0:
            bass_freq = _midi_to_hz(key - 12 - 12 * (style.pitch[0] > 50))
            audio[mask] += style.bass * 0.35 * envelope * np.sin(2 * np.pi * bass_freq * local)
        start += note_len
    swing = rng.uniform(0.0, 0.04)
    for i, onset in enumerate(np.arange(0.0, duration, beat / 2)):
        begin = int((onset + (swing if i % 2 else 0.0)) * sr)
        length = min(int(0.25 * sr), n - begin)
        if length <= 0:
            continue
        if i % 2 == 0 and style.kick > 0 and (i // 2) % 2 == 0:
            kick_t = np.arange(length) / sr
            audio[begin : begin + length] += style.kick * np.sin(2 * np.pi * 55 * kick_t) * np.exp(-kick_t * 18)
        if i % 4 == 2 and style.snare > 0:
            audio[begin : begin + length] += 0.4 * style.snare * _noise_burst(rng, length, sr, 0.04, False)
        if style.hats > 0:
            audio[begin : begin + length] += 0.25 * style.hats * _noise_burst(rng, length, sr, 0.01, True)
    audio += rng.uniform(0.01, 0.08) * rng.standard_normal(n)
    audio /= np.max(np.abs(audio)) + 1e-9
    return (0.8 * audio).astype(np.float32)


def synthesise_lyrics(genre: str, language: str, rng: np.random.Generator) -> str:
    words = WORDS[language]
    lines = []
    for line_no in range(int(rng.integers(4, 9))):
        n_words = int(rng.integers(4, 8))
        # mostly common words, some genre words: lyrics carry a weak genre signal
        pool = [words["common"], words[genre]]
        line = [str(rng.choice(pool[int(rng.random() < 0.35)])) for _ in range(n_words)]
        if line_no == 0:
            lines.append("[Verse]")
        if line_no == 4:
            lines.append("[Chorus]")
        lines.append(" ".join(line).capitalize())
    return "\n".join(lines)


def generate_demo(
    out_dir: str | Path, n_songs: int = 180, seed: int = 0, sr: int = 22050, duration: float = 4.0
) -> Path:
    """Write ``n_songs`` WAV files and ``manifest.csv`` into ``out_dir``; return the manifest path."""
    if n_songs < len(GENRES):
        raise ValueError(f"n_songs={n_songs}: the demo needs at least {len(GENRES)} songs (one per genre).")
    out_dir = Path(out_dir)
    audio_dir = out_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    genre_names = list(GENRES)
    rows = []
    for i in range(n_songs):
        genre = genre_names[i % len(genre_names)]
        language = LANGUAGES[int(rng.random() < 0.5)]
        song_rng = np.random.default_rng([seed, i])
        audio = synthesise_song(GENRES[genre], song_rng, sr, duration)
        rel = f"audio/song_{i:04d}.wav"
        sf.write(out_dir / rel, audio, sr, subtype="PCM_16")
        rows.append(
            {
                "id": f"song_{i:04d}",
                AUDIO: rel,
                "lyrics": synthesise_lyrics(genre, language, song_rng),
                "language": language,
                "genre": genre,
                "artist": f"artist_{int(song_rng.integers(0, 12)):02d}",
            }
        )
    manifest = out_dir / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    params = {"n_songs": n_songs, "seed": seed, "sr": sr, "duration": duration, "version": DEMO_VERSION}
    (out_dir / "demo.json").write_text(json.dumps(params), encoding="utf-8")
    return manifest


class DemoDataset(Dataset):
    """The generated demo set; (re)generated when missing or when its parameters change."""

    label_columns = ["genre", "language"]

    def __init__(
        self, root: str = "data/demo", n_songs: int = 180, seed: int = 0, sr: int = 22050, duration: float = 4.0,
        label_columns: list[str] | None = None, **options,
    ) -> None:
        super().__init__(label_columns=list(label_columns or DemoDataset.label_columns), **options)
        self.root = Path(root).expanduser()
        self.params = {"n_songs": int(n_songs), "seed": int(seed), "sr": int(sr), "duration": float(duration)}

    def read(self) -> pd.DataFrame:
        manifest = self.root / "manifest.csv"
        stamp = self.root / "demo.json"
        current = json.loads(stamp.read_text()) if stamp.exists() else None
        if not manifest.exists() or current != {**self.params, "version": DEMO_VERSION}:
            log.info("Generating the demo dataset (%d songs) in %s", self.params["n_songs"], self.root)
            generate_demo(self.root, **self.params)
        frame = pd.read_csv(manifest)
        frame[AUDIO] = [str((self.root / p).resolve()) for p in frame[AUDIO]]
        return validate_manifest(frame, str(manifest))
