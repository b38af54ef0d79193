"""Audio features computed with librosa (or, with ``feature.device``, their spectra with torch on a GPU).

Each file is decoded once for all audio features of a run, features that share an STFT or a mel
spectrogram compute it once per song (:class:`Spectra`), and files are spread over worker processes on this
machine or a Dask cluster (:mod:`musiclust.features.executors`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from functools import lru_cache
from time import perf_counter
from typing import Any

import numpy as np
import pandas as pd

from musiclust.columns import AUDIO, ID, skip_frame
from musiclust.errors import ConfigError
from musiclust.features.base import FeatureExtractor, FeatureSet
from musiclust.features.executors import LocalExecutor

log = logging.getLogger(__name__)

#: seconds of audio a worker process must get to pay for its start-up: a fresh interpreter that imports librosa
#: and loads its numba code uses about as much CPU as extracting this much (2.3-3 s against 1.4-1.6 ms per second
#: of audio for mfcc + logmelspec, measured with benchmarks/extraction.py's files)
AUDIO_SECONDS_PER_WORKER = 1800
#: most files per task sent to a worker: small enough for load balancing and a live progress bar
MAX_CHUNK_FILES = 64
#: seconds before the extraction progress bar appears (short extractions show none)
PROGRESS_DELAY = 2.0
#: samples of decoded audio whose spectra the torch path computes in one batch (≈ 25 min at 22.05 kHz: about
#: 0.8 GB of STFT on the device)
TORCH_BATCH_SAMPLES = 1 << 25


@lru_cache(maxsize=32)
def mel_basis(sr: int, n_fft: int, n_mels: int, fmax: float | None) -> np.ndarray:
    """The mel filter bank, built once per process (``librosa.feature.melspectrogram`` rebuilds it per call)."""
    import librosa

    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmax=fmax)
    basis.setflags(write=False)
    return basis


class Spectra:
    """One decoded song and the spectra derived from it, each computed at most once.

    The results equal ``librosa.feature.melspectrogram(y=...)`` / ``librosa.feature.mfcc(y=...)`` /
    ``librosa.power_to_db`` (up to float32 rounding); they are memoised so that features with the same
    ``n_fft``/``hop_length`` share one STFT per song. :class:`musiclust.features.gpu.TorchSpectra` computes the
    same with torch, for batches of songs.
    """

    def __init__(self, signal: np.ndarray, sr: int) -> None:
        self.signal, self.sr = signal, int(sr)
        self._memo: dict[tuple[Any, ...], np.ndarray] = {}

    def power(self, n_fft: int, hop_length: int) -> np.ndarray:
        """Power spectrogram |STFT|², shape (1 + n_fft // 2, frames)."""
        key = ("power", n_fft, hop_length)
        if key not in self._memo:
            import librosa

            self._memo[key] = np.abs(librosa.stft(y=self.signal, n_fft=n_fft, hop_length=hop_length)) ** 2.0
        return self._memo[key]

    def mel_power(self, n_fft: int, hop_length: int, n_mels: int, fmax: float | None = None) -> np.ndarray:
        """Mel power spectrogram, shape (n_mels, frames)."""
        key = ("mel", n_fft, hop_length, n_mels, fmax)
        if key not in self._memo:
            # a plain matrix product: 2-3x faster than the einsum librosa uses, equal up to float32 rounding
            self._memo[key] = mel_basis(self.sr, n_fft, n_mels, fmax) @ self.power(n_fft, hop_length)
        return self._memo[key]

    def mfcc(self, n_mfcc: int, n_fft: int, hop_length: int, n_mels: int = 128) -> np.ndarray:
        """MFCCs, shape (n_mfcc, frames), with librosa's defaults (128 mel bands, dB with top_db=80, DCT-II, ortho)."""
        key = ("mfcc", n_mfcc, n_fft, hop_length, n_mels)
        if key not in self._memo:
            import librosa

            log_mel = librosa.power_to_db(self.mel_power(n_fft, hop_length, n_mels))
            self._memo[key] = librosa.feature.mfcc(S=log_mel, n_mfcc=n_mfcc)
        return self._memo[key]

    def log_mel(self, n_fft: int, hop_length: int, n_mels: int, fmax: float | None = None,
                top_db: float = 80.0) -> np.ndarray:
        """Mel spectrogram in dB relative to its loudest bin (``power_to_db(ref=np.max, top_db=top_db)``)."""
        import librosa

        return librosa.power_to_db(self.mel_power(n_fft, hop_length, n_mels, fmax), ref=np.max, top_db=top_db)


class AudioFeature(FeatureExtractor):
    """Base for features computed from one decoded signal per song.

    Subclasses implement :meth:`from_spectra` (to share STFTs with other features) or :meth:`from_signal`.
    """

    required_columns = (ID, AUDIO)
    #: how the work is done, not what comes out: not part of the cache key (``device`` is, when it is a GPU)
    runtime_params = ("n_jobs", "executor")
    #: True for features that cover a track in several windows: :meth:`from_spectra` returns (n, ...) per song
    windowed = False
    #: a song's values depend on its audio alone: stored per song, keyed by its file
    scope = "song"
    reads_audio = True

    def __init__(
        self, sr: int = 22050, duration: float | None = None, hop_length: int = 512, n_fft: int = 2048,
        min_duration: float = 0.5, n_jobs: int = 1, device: str = "cpu", executor: Any = None, **params,
    ) -> None:
        super().__init__(sr=sr, duration=duration, hop_length=hop_length, n_fft=n_fft,
                         min_duration=min_duration, n_jobs=n_jobs, device=device, executor=executor, **params)
        self.sr, self.duration, self.hop_length, self.n_fft = int(sr), duration, int(hop_length), int(n_fft)
        self.min_duration, self.n_jobs = float(min_duration), int(n_jobs)
        if self.n_jobs == 0:
            raise ConfigError(f"feature.n_jobs=0 for feature={self.name}: use -1 for all cores, or 1, 2, ...")
        self.device, self.executor = str(device), executor or LocalExecutor()
        self.spectra_device = spectra_device(self.device, option=f"feature.device for feature={self.name}")

    def cache_config(self) -> dict[str, Any]:
        config = super().cache_config()
        config.pop("device", None)  # already left out by features that run their own models (pretrained)
        # torch's numbers equal librosa's within float32 rounding, not bit for bit
        if getattr(self, "spectra_device", None) is not None:
            config["spectra"] = "torch"
        return config

    def from_spectra(self, spectra: Spectra) -> np.ndarray:
        """The feature of one song from its shared :class:`Spectra` (default: :meth:`from_signal`)."""
        return self.from_signal(spectra.signal)

    def from_signal(self, signal: np.ndarray) -> np.ndarray:
        """The feature of one decoded song."""
        if type(self).from_spectra is AudioFeature.from_spectra:
            raise NotImplementedError(f"{type(self).__name__} must implement from_signal or from_spectra")
        return self.from_spectra(Spectra(signal, self.sr))

    def key_columns(self, manifest: pd.DataFrame) -> list[str]:
        return []

    def compute(self, manifest: pd.DataFrame) -> FeatureSet:
        return extract_audio(manifest, [self], n_jobs=self.n_jobs, executor=self.executor)[0]

    def compute_batches(self, manifest: pd.DataFrame) -> Iterator[FeatureSet]:
        """One :class:`FeatureSet` per chunk of files as the worker processes finish them (any order)."""
        ids = manifest[ID].astype(str).to_numpy()
        for start, chunk in audio_chunks(manifest, [self], n_jobs=self.n_jobs, executor=self.executor):
            yield chunk_feature_sets(ids, start, chunk, [self])[0]


def spectra_device(device: str, option: str = "feature.device") -> str | None:
    """The torch device that computes the spectra for ``device`` (cpu | cuda | cuda:N | auto), None for librosa on
    the CPU. ``auto`` is the GPU when torch sees one; ``cuda`` without one stops with a ConfigError."""
    import re

    if device == "cpu":
        return None
    if device != "auto" and not re.fullmatch(r"cuda(:\d+)?", device):
        raise ConfigError(f"{option}={device!r}: use cpu (librosa), cuda / cuda:N (torch on a GPU) or auto.")
    import torch  # only for a GPU path: the CPU default never imports it here

    if torch.cuda.is_available():
        return "cuda" if device == "auto" else device
    if device == "auto":
        return None
    raise ConfigError(f"{option}={device}: torch sees no CUDA GPU here. Use feature.device=auto (the GPU when "
                      "there is one) or cpu.")


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
    signal = to_mono(samples)
    if native_sr != sr and signal.size:  # soxr (high quality), librosa.load's default, so the numbers agree
        signal = librosa.resample(signal, orig_sr=native_sr, target_sr=sr, res_type="soxr_hq")
    if signal.size < min_duration * sr:
        return None, f"too short: {signal.size / sr:.2f}s < min_duration={min_duration}s"
    if float(np.max(np.abs(signal))) < 1e-4:
        return None, "silent audio: peak level below 1e-4"
    return signal, ""


def to_mono(samples: np.ndarray) -> np.ndarray:
    """The mean of the channels of (frames, channels) samples, as ``librosa.to_mono`` computes it (the same bits).

    Channel by channel over contiguous columns: ``np.mean`` over the interleaved axis takes longer than decoding
    an MP3 (about 50 ms per 30 s of 44.1 kHz stereo against 1 ms).
    """
    if samples.shape[1] == 1:
        return np.ascontiguousarray(samples[:, 0])
    mono = samples[:, 0].copy()
    for channel in range(1, samples.shape[1]):
        mono += samples[:, channel]
    mono /= samples.shape[1]
    return mono


ChunkResult = tuple[np.ndarray, list[np.ndarray], list[np.ndarray], list[tuple[int, str]]]


def _extract_chunk(paths: Sequence[str], features: Sequence[AudioFeature]) -> ChunkResult:
    """Decode each file once and compute every feature from it.

    Returns (offsets of the decoded files in ``paths``, one float32 array of rows per feature, the number of
    rows of each decoded file per feature (windows; 1 for one-row features), (offset, reason) for each skipped
    file): one array per feature is cheap to send back from a worker. A song whose features fail to compute is
    skipped with the error as its reason, like an undecodable file.
    """
    from threadpoolctl import threadpool_limits

    kept: list[int] = []
    values: list[list[np.ndarray]] = [[] for _ in features]
    skipped: list[tuple[int, str]] = []
    # one BLAS thread per process: the matrices are small and the parallelism is across files
    with threadpool_limits(limits=1, user_api="blas"):
        for offset, spectra in _song_spectra(paths, features[0], skipped):
            try:
                rows = [np.asarray(feature.from_spectra(spectra), dtype=np.float32) for feature in features]
            except Exception as err:  # noqa: BLE001 - one song's failure is that song's skip record, with its reason
                detail = (str(err).splitlines() or [""])[0][:160]
                skipped.append((offset, f"feature error: {type(err).__name__}: {detail} "
                                        f"({os.path.basename(str(paths[offset]))})"))
                continue
            for j, row in enumerate(rows):
                values[j].append(row)
            kept.append(offset)
    skipped.sort()
    rows, counts = [], []
    for feature, parts in zip(features, values, strict=True):
        if not parts:
            rows.append(np.zeros((0,), dtype=np.float32))
        else:
            rows.append(np.concatenate(parts) if feature.windowed else np.stack(parts))
        counts.append(np.asarray([len(part) if feature.windowed else 1 for part in parts], dtype=np.int64))
    return np.asarray(kept, dtype=np.int64), rows, counts, skipped


def _song_spectra(paths: Sequence[str], feature: AudioFeature,
                  skipped: list[tuple[int, str]]) -> Iterator[tuple[int, Spectra]]:
    """(offset, spectra) of each decodable file of ``paths``, in order; undecodable ones go to ``skipped``.

    On the CPU each song gets its own :class:`Spectra`; with a torch device, decoded songs are gathered into
    batches of about :data:`TORCH_BATCH_SAMPLES` samples whose spectra are computed together.
    """
    decoded = ((offset, decode(path, feature.sr, feature.duration, feature.min_duration))
               for offset, path in enumerate(paths))
    if feature.spectra_device is None:
        for offset, (signal, reason) in decoded:
            if signal is None:
                skipped.append((offset, reason))
            else:
                yield offset, Spectra(signal, feature.sr)
        return
    from musiclust.features.gpu import TorchSpectra

    batch: list[tuple[int, np.ndarray]] = []
    for index, (offset, (signal, reason)) in enumerate(decoded, 1):
        if signal is None:
            skipped.append((offset, reason))
        else:
            batch.append((offset, signal))
        if batch and (index == len(paths) or sum(len(s) for _, s in batch) >= TORCH_BATCH_SAMPLES):
            songs = TorchSpectra([s for _, s in batch], feature.sr, feature.spectra_device).songs()
            yield from zip([o for o, _ in batch], songs, strict=True)
            batch = []


def _extract_task(start: int, paths: Sequence[str], features: Sequence[AudioFeature]) -> tuple[int, ChunkResult]:
    return start, _extract_chunk(paths, features)


def audio_seconds(paths: Sequence[str], duration: float | None, sample: int = 32) -> float:
    """Estimated work of decoding ``paths`` and computing features, in seconds of 22.05 kHz mono audio (the unit of
    :data:`AUDIO_SECONDS_PER_WORKER`), from the headers of up to ``sample`` evenly spaced files.

    A second of audio counts ``0.5 + 0.5 · samplerate · channels / 22050``: the features cost the same at any
    source rate, decoding and resampling grow with the samples read (44.1 kHz stereo MP3 or FLAC: about 2.5×
    the work of 22.05 kHz mono, measured with benchmarks/extraction.py). Reading a header costs well under a
    millisecond; unreadable files count as none (they are skipped).
    """
    import soundfile as sf

    if not paths:
        return 0.0
    picked = [paths[i] for i in np.linspace(0, len(paths) - 1, min(sample, len(paths))).astype(int)]
    seconds, weights = [], []
    for path in picked:
        try:
            info = sf.info(path)
            seconds.append(info.frames / info.samplerate)
            weights.append(0.5 + 0.5 * info.samplerate * info.channels / 22050)
        except Exception:  # noqa: BLE001 - missing or undecodable: decode reports it, it costs nothing here
            seconds.append(0.0)
            weights.append(1.0)
    per_file = np.minimum(seconds, duration) if duration is not None else np.asarray(seconds)
    return float((per_file * np.asarray(weights)).mean()) * len(paths)


def idle_cores() -> int:
    """Cores not busy in the last minute (the 1-minute load average subtracted from the cores this process may
    use), at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # no load average on this platform: assume the machine is free
        busy = 0.0
    return max(1, min(cores, round(cores - busy)))


def worker_count(n_jobs: int, n_files: int, seconds_of_audio: float) -> int:
    """Processes to use: ``n_jobs`` (-1 = the idle cores, see :func:`idle_cores`), but only as many as have
    AUDIO_SECONDS_PER_WORKER each.

    Each worker is a fresh interpreter that imports librosa: on free cores it saves its share of the work, on
    busy cores its start-up is time lost. With at least its start-up's worth of audio per worker, what the pool
    can lose on a busy machine is no more than what it saves on an idle one; below that, one process is used.
    With ``n_jobs=-1`` (the default) a machine whose cores are all busy gets one process: extra processes
    cannot get CPU time there, so the default is never slower than one process.
    """
    from joblib import effective_n_jobs

    wanted = idle_cores() if n_jobs == -1 else effective_n_jobs(n_jobs)
    return max(1, min(wanted, n_files, int(seconds_of_audio // AUDIO_SECONDS_PER_WORKER)))


def _chunks(paths: list[str], slots: int) -> list[tuple[int, list[str]]]:
    """(start row, paths) of contiguous chunks, four per slot (each is committed to the store as it comes)."""
    size = max(1, min(MAX_CHUNK_FILES, math.ceil(len(paths) / (slots * 4))))
    return [(start, paths[start : start + size]) for start in range(0, len(paths), size)]


def _run_chunks(paths: list[str], features: Sequence[AudioFeature], workers: int,
                executor: Any) -> Iterator[tuple[int, ChunkResult]]:
    """(start row, result) per chunk of contiguous files, in completion order, on ``executor`` (one ``workers``
    on this machine's executor = in this process)."""
    from joblib import Parallel, delayed

    if workers == 1 and executor.sizes_pool:
        for start, chunk in _chunks(paths, 1):
            yield start, _extract_chunk(chunk, features)
        return
    # the executor keeps its backend (loky's processes, a Dask client) open while the results come in
    with executor.parallel(workers) as slots:
        yield from Parallel(n_jobs=workers, return_as="generator_unordered", batch_size=1)(
            delayed(_extract_task)(start, chunk, features) for start, chunk in _chunks(paths, slots))


def _compact_rows(array: np.ndarray, rows: np.ndarray, block: int = 4096) -> None:
    """Move the (sorted, unique) ``rows`` of ``array`` to its front in place, one block at a time."""
    for start in range(0, len(rows), block):
        source = rows[start : start + block]
        if source[-1] != start + len(source) - 1:  # rows before a skipped file are already in place
            array[start : start + len(source)] = array[source]


def audio_chunks(
    manifest: pd.DataFrame, features: Sequence[AudioFeature], n_jobs: int = 1, *, executor: Any = None,
    progress: bool | None = None,
) -> Iterator[tuple[int, ChunkResult]]:
    """Decode every file of ``manifest`` once and compute all ``features`` from it, in parallel processes:
    ``(first row, result)`` per chunk of contiguous files, in completion order.

    Files are split into contiguous chunks for ``n_jobs`` worker processes (-1 = the idle cores; fewer, or none,
    when there is too little audio to pay for starting them, see :func:`worker_count`), kept by loky for the
    next extraction in this process — or, with a :class:`~musiclust.features.executors.DaskExecutor`, for the
    workers of a Dask cluster (``n_jobs`` tasks at a time, -1 = all its worker threads).
    Features that share an STFT compute it once per song. ``progress``: show a tqdm bar (None = only on a
    terminal); it appears once extraction has taken more than a couple of seconds.
    """
    from tqdm.auto import tqdm

    if not features:
        raise ValueError("extract_audio needs at least one feature")
    decoders = {(f.sr, f.duration, f.min_duration, f.spectra_device) for f in features}
    if len(decoders) != 1:
        raise ValueError("features decoded together must share sr, duration, min_duration and device")
    executor = executor or LocalExecutor()
    paths = manifest[AUDIO].astype(str).tolist()
    n_files, workers = len(paths), 1
    if not executor.sizes_pool:  # a cluster: as many tasks at a time as asked (-1: all its worker threads)
        workers = n_jobs
    elif n_jobs != 1 and n_files > 1:
        workers = worker_count(n_jobs, n_files, audio_seconds(paths, features[0].duration))
    names = "+".join(f.name for f in features)
    begin = perf_counter()
    bar = tqdm(total=n_files, desc=f"features {names}", unit="song", delay=PROGRESS_DELAY,
               disable=None if progress is None else not progress)
    with bar:
        for start, chunk in _run_chunks(paths, features, workers, executor):
            yield start, chunk
            bar.update(len(chunk[0]) + len(chunk[3]))
    seconds = perf_counter() - begin
    log.info("Audio features %s: %d songs in %.1f s with %s (%.1f songs/s)", names, n_files, seconds,
             executor.describe(workers), n_files / max(seconds, 1e-9))


def chunk_feature_sets(ids: np.ndarray, start: int, chunk: ChunkResult, features: Sequence[AudioFeature]
                       ) -> list[FeatureSet]:
    """One chunk's result as one :class:`FeatureSet` per feature (``ids``: the ids of the whole manifest)."""
    offsets, arrays, counts, skips = chunk
    skipped = skip_frame([(ids[start + offset], reason) for offset, reason in skips], stage="audio")
    return [FeatureSet(values=array, ids=ids[start + offsets], skipped=skipped, normalization=feature.normalization,
                       offsets=np.concatenate([[0], np.cumsum(count)]) if feature.windowed else None)
            for feature, array, count in zip(features, arrays, counts, strict=True)]


def extract_audio(
    manifest: pd.DataFrame, features: Sequence[AudioFeature], n_jobs: int = 1, *, executor: Any = None,
    progress: bool | None = None,
) -> list[FeatureSet]:
    """Every song's ``features`` in memory, from :func:`audio_chunks` (one decode and STFT per file).

    Each chunk comes back as one float32 array per feature and is copied straight into place, so rows keep the
    manifest order whatever the number of processes.
    """
    ids = manifest[ID].astype(str).to_numpy()
    n_files = len(ids)
    outputs: list[np.ndarray | None] = [None] * len(features)
    windows: list[dict[int, tuple[np.ndarray, np.ndarray]]] = [{} for _ in features]  # windowed: per chunk start
    kept = np.zeros(n_files, dtype=bool)
    skipped: list[tuple[int, str]] = []
    chunks = audio_chunks(manifest, features, n_jobs, executor=executor, progress=progress)
    for start, (offsets, arrays, counts, skips) in chunks:
        rows = start + offsets
        for j, array in enumerate(arrays):
            if features[j].windowed:
                windows[j][start] = (array, counts[j])
                continue
            if len(rows) and outputs[j] is None:
                outputs[j] = np.empty((n_files, *array.shape[1:]), dtype=np.float32)
            if len(rows):
                outputs[j][rows] = array
        kept[rows] = True
        skipped.extend((start + offset, reason) for offset, reason in skips)
    rows = np.flatnonzero(kept)
    skip_rows = skip_frame([(ids[i], reason) for i, reason in sorted(skipped)], stage="audio")
    sets = []
    for feature, output, chunks in zip(features, outputs, windows, strict=True):
        offsets = None
        if feature.windowed:  # chunks are contiguous runs of files: in start order they are in manifest order
            parts = [chunks[start] for start in sorted(chunks) if len(chunks[start][1])]
            values = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0,), dtype=np.float32)
            offsets = np.concatenate([[0], np.cumsum(np.concatenate([p[1] for p in parts]))]) if parts \
                else np.zeros(1, dtype=np.int64)
        elif output is None:
            values = np.zeros((0,), dtype=np.float32)
        else:
            _compact_rows(output, rows)
            values = output[: len(rows)]
        sets.append(FeatureSet(values=values, ids=ids[rows], skipped=skip_rows, normalization=feature.normalization,
                               offsets=offsets))
    return sets


def track_windows(matrix: np.ndarray, frames: int, max_windows: int | None = None) -> np.ndarray:
    """A (F, T) time-frequency matrix of a whole track as (n, F, frames) windows that cover all of it.

    Consecutive windows of ``frames`` frames; when T is not a multiple of ``frames`` the last window ends at the
    end of the track (overlapping the one before), so no frame is left out and nothing is padded. A track
    shorter than one window is padded at the end with each row's own mean (a neutral value for that band or
    coefficient; padding with one value for all rows would make the clip's length a feature). ``max_windows``
    keeps that many evenly spaced windows (None: all).
    """
    n_frames = matrix.shape[1]
    if n_frames < frames:
        pad = np.repeat(matrix.mean(axis=1, keepdims=True), frames - n_frames, axis=1)
        return np.concatenate([matrix, pad], axis=1)[None]
    starts = list(range(0, n_frames - frames + 1, frames))
    if starts[-1] + frames < n_frames:
        starts.append(n_frames - frames)
    if max_windows is not None and len(starts) > int(max_windows):
        starts = [starts[i] for i in np.linspace(0, len(starts) - 1, int(max_windows)).round().astype(int)]
    return np.stack([matrix[:, start:start + frames] for start in starts])


class MFCCStats(AudioFeature):
    """Per-track MFCC summary: n_mfcc × {mean, std, min, max} → a vector of 4·n_mfcc."""

    name = "mfcc"

    def __init__(self, n_mfcc: int = 20, **kwargs) -> None:
        super().__init__(n_mfcc=n_mfcc, **kwargs)
        self.n_mfcc = int(n_mfcc)

    def mfcc(self, spectra: Spectra) -> np.ndarray:
        return spectra.mfcc(n_mfcc=self.n_mfcc, n_fft=self.n_fft, hop_length=self.hop_length)

    def from_spectra(self, spectra: Spectra) -> np.ndarray:
        m = self.mfcc(spectra)
        return np.concatenate([m.mean(axis=1), m.std(axis=1), m.min(axis=1), m.max(axis=1)])


class MFCCFrames(MFCCStats):
    """MFCC maps of the whole track: windows (n, 1, n_mfcc, frames), see :func:`track_windows`."""

    name = "mfcc_frames"
    windowed = True

    def __init__(self, frames: int = 128, max_windows: int | None = None, **kwargs) -> None:
        super().__init__(frames=frames, max_windows=max_windows, **kwargs)
        self.frames, self.max_windows = int(frames), max_windows

    def from_spectra(self, spectra: Spectra) -> np.ndarray:
        return track_windows(self.mfcc(spectra), self.frames, self.max_windows)[:, None]


class LogMelSpec(AudioFeature):
    """Log-mel spectrogram (dB) of the whole track: windows (n, 1, n_mels, frames), see :func:`track_windows`."""

    name = "logmelspec"
    windowed = True

    def __init__(self, n_mels: int = 64, frames: int = 128, fmax: float | None = None,
                 max_windows: int | None = None, **kwargs) -> None:
        super().__init__(n_mels=n_mels, frames=frames, fmax=fmax, max_windows=max_windows, **kwargs)
        self.n_mels, self.frames, self.fmax, self.max_windows = int(n_mels), int(frames), fmax, max_windows

    def from_spectra(self, spectra: Spectra) -> np.ndarray:
        db = spectra.log_mel(n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels, fmax=self.fmax)
        return track_windows(db, self.frames, self.max_windows)[:, None]
