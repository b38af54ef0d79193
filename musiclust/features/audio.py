"""Audio features computed with librosa; each file is decoded once for all audio features of a run."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from musiclust.data.manifest import AUDIO, ID
from musiclust.features.base import FeatureExtractor, FeatureSet, skip_frame

log = logging.getLogger(__name__)


class AudioFeature(FeatureExtractor):
    """Base for features computed from one decoded signal per song."""

    required_columns = (ID, AUDIO)

    def __init__(
        self, sr: int = 22050, duration: float | None = None, hop_length: int = 512, n_fft: int = 2048,
        min_duration: float = 0.5, n_jobs: int = 1, **params,
    ) -> None:
        super().__init__(sr=sr, duration=duration, hop_length=hop_length, n_fft=n_fft,
                         min_duration=min_duration, n_jobs=n_jobs, **params)
        self.sr, self.duration, self.hop_length, self.n_fft = int(sr), duration, int(hop_length), int(n_fft)
        self.min_duration, self.n_jobs = float(min_duration), int(n_jobs)

    def from_signal(self, signal: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def compute(self, manifest: pd.DataFrame) -> FeatureSet:
        return extract_audio(manifest, [self], n_jobs=self.n_jobs)[0]


def decode(path: str, sr: int, duration: float | None, min_duration: float) -> tuple[np.ndarray | None, str]:
    """Load mono audio resampled to ``sr``; return (signal, "") or (None, "<problem>: <detail>").

    Reads with libsndfile (WAV, FLAC, OGG, MP3, ...) as ``librosa.load`` does, but never falls back
    to audioread, and checks the decoded length against the header so truncated files are caught.
    """
    import re

    import librosa
    import soundfile as sf

    if not isinstance(path, str) or not path or path in ("nan", "None"):
        return None, "no audio path: the manifest gives no file for this song"
    if not os.path.isfile(path):
        return None, f"missing file: {path}"
    if os.path.getsize(path) == 0:
        return None, f"empty file: {path}"
    try:
        with sf.SoundFile(path) as audio:
            native_sr, declared = audio.samplerate, audio.frames
            wanted = declared if duration is None else min(declared, int(duration * native_sr))
            samples = audio.read(frames=wanted, dtype="float32", always_2d=True)
            header_log = audio.extra_info
    except Exception as err:  # noqa: BLE001 - any decoder failure is a per-item skip, reported with its reason
        detail = re.sub(r"^Error opening '.*?': ", "", (str(err).splitlines() or [type(err).__name__])[0])
        return None, f"unreadable audio: {detail[:160]} ({os.path.basename(path)})"
    if samples.size == 0:
        return None, f"unreadable audio: no decodable samples ({os.path.basename(path)})"
    if not np.all(np.isfinite(samples)):
        return None, "bad samples: audio contains NaN/inf"
    # libsndfile trims a cut-off WAV/AIFF to what is there and notes "data : N (should be M)" in its log
    cut = re.search(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", header_log, flags=re.MULTILINE)
    if cut and int(cut[1]) > int(cut[2]):  # a header that understates the size (streamed WAV) is harmless
        return None, (f"truncated audio: the header declares {cut[1]} bytes of samples, the file holds {cut[2]} "
                      f"({os.path.basename(path)})")
    if len(samples) < 0.5 * wanted:
        return None, (f"truncated audio: {len(samples) / native_sr:.2f}s decodable of "
                      f"{declared / native_sr:.2f}s in the header ({os.path.basename(path)})")
    signal = librosa.to_mono(samples.T)
    if native_sr != sr and signal.size:
        signal = librosa.resample(signal, orig_sr=native_sr, target_sr=sr)
    if signal.size < min_duration * sr:
        return None, f"too short: {signal.size / sr:.2f}s < min_duration={min_duration}s"
    if float(np.max(np.abs(signal))) < 1e-4:
        return None, "silent audio: peak level below 1e-4"
    return signal, ""


def _extract_chunk(
    rows: Sequence[tuple[str, str]], features: Sequence[AudioFeature]
) -> list[tuple[str, list[np.ndarray] | None, str]]:
    first = features[0]
    out = []
    for song_id, path in rows:
        signal, reason = decode(path, first.sr, first.duration, first.min_duration)
        if signal is None:
            out.append((song_id, None, reason))
            continue
        out.append((song_id, [f.from_signal(signal) for f in features], ""))
    return out


def extract_audio(manifest: pd.DataFrame, features: Sequence[AudioFeature], n_jobs: int = 1) -> list[FeatureSet]:
    """Decode every file once and compute all ``features`` from it, in parallel processes."""
    from joblib import Parallel, delayed, effective_n_jobs

    decoders = {(f.sr, f.duration, f.min_duration) for f in features}
    if len(decoders) != 1:
        raise ValueError("features decoded together must share sr, duration and min_duration")
    rows = list(zip(manifest[ID].astype(str), manifest[AUDIO].astype(str), strict=True))
    workers = max(1, min(effective_n_jobs(n_jobs), len(rows) // 16 or 1))
    if workers == 1:
        results = _extract_chunk(rows, features)
    else:
        chunks = [rows[i::workers * 4] for i in range(workers * 4)]
        parts = Parallel(n_jobs=workers, backend="loky")(delayed(_extract_chunk)(c, features) for c in chunks)
        order = {song_id: i for i, (song_id, _) in enumerate(rows)}
        results = sorted((r for part in parts for r in part), key=lambda r: order[r[0]])
    kept = [r for r in results if r[1] is not None]
    skipped = skip_frame([(r[0], r[2]) for r in results if r[1] is None], stage="audio")
    ids = np.array([r[0] for r in kept], dtype=str)
    sets = []
    for j in range(len(features)):
        values = (
            np.stack([r[1][j] for r in kept]).astype(np.float32)
            if kept
            else np.zeros((0,), dtype=np.float32)
        )
        sets.append(FeatureSet(values=values, ids=ids, skipped=skipped))
    return sets


def fix_frames(matrix: np.ndarray, frames: int) -> np.ndarray:
    """Pad (with the row minimum) or centre-crop a (F, T) matrix to exactly ``frames`` columns."""
    current = matrix.shape[1]
    if current >= frames:
        start = (current - frames) // 2
        return matrix[:, start : start + frames]
    pad = frames - current
    return np.pad(matrix, ((0, 0), (0, pad)), mode="constant", constant_values=float(matrix.min()))


class MFCCStats(AudioFeature):
    """Per-track MFCC summary: n_mfcc × {mean, std, min, max} → a vector of 4·n_mfcc."""

    name = "mfcc"

    def __init__(self, n_mfcc: int = 20, **kwargs) -> None:
        super().__init__(n_mfcc=n_mfcc, **kwargs)
        self.n_mfcc = int(n_mfcc)

    def mfcc(self, signal: np.ndarray) -> np.ndarray:
        import librosa

        return librosa.feature.mfcc(
            y=signal, sr=self.sr, n_mfcc=self.n_mfcc, n_fft=self.n_fft, hop_length=self.hop_length
        )

    def from_signal(self, signal: np.ndarray) -> np.ndarray:
        m = self.mfcc(signal)
        return np.concatenate([m.mean(axis=1), m.std(axis=1), m.min(axis=1), m.max(axis=1)])


class MFCCFrames(MFCCStats):
    """Fixed-width MFCC map (1, n_mfcc, frames), padded or cropped in time."""

    name = "mfcc_frames"

    def __init__(self, frames: int = 128, **kwargs) -> None:
        super().__init__(frames=frames, **kwargs)
        self.frames = int(frames)

    def from_signal(self, signal: np.ndarray) -> np.ndarray:
        return fix_frames(self.mfcc(signal), self.frames)[None]


class LogMelSpec(AudioFeature):
    """Log-mel spectrogram map (1, n_mels, frames) in dB, padded or cropped in time."""

    name = "logmelspec"

    def __init__(self, n_mels: int = 64, frames: int = 128, fmax: float | None = None, **kwargs) -> None:
        super().__init__(n_mels=n_mels, frames=frames, fmax=fmax, **kwargs)
        self.n_mels, self.frames, self.fmax = int(n_mels), int(frames), fmax

    def from_signal(self, signal: np.ndarray) -> np.ndarray:
        import librosa

        mel = librosa.feature.melspectrogram(
            y=signal, sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels, fmax=self.fmax
        )
        return fix_frames(librosa.power_to_db(mel, ref=np.max, top_db=80.0), self.frames)[None]
