"""(1) Extraction on realistic files: musiclust's mfcc + logmelspec against the original loop and the machine's ceiling.

The files are generated here once (benchmarks/work/realistic44k): 44.1 kHz stereo MP3 and FLAC, 30-s clips and
full-length songs (3-4 min), mixed from the demo synthesiser's instruments. Every side runs in a fresh process:

- the original project's way: one file after the other, ``librosa.load(sr=22050)`` + ``librosa.feature.mfcc`` +
  ``librosa.feature.melspectrogram`` per file, in one process (with default BLAS threads, and with one);
- musiclust's ``extract_audio`` with the default ``n_jobs`` (-1), with one process, and with a pool of 2 forced;
- the ceiling: decode only (read + downmix + resample to 22.05 kHz with soxr) and decode + one STFT per file, in
  as many warm processes as the machine has cores (forked after the imports, timed from the first file).

End to end is a child's wall time with interpreter start-up, imports and worker start-up: what one run pays.
Steady is a second pass in the same (warm) process.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import WORK, fmt_ratio, load_average, measure, python, report

SR, N_MFCC, N_MELS, FRAMES, N_FFT, HOP = 22050, 20, 64, 128, 2048, 512
SOURCE_SR = 44100
#: the realistic set: per format, N_CLIPS 30-s clips and one full-length song per duration in SONG_SECONDS
N_CLIPS, CLIP_SECONDS, SONG_SECONDS = 12, 30.0, (180.0, 210.0, 240.0)
FORMATS = {"mp3": {"format": "MP3", "subtype": "MPEG_LAYER_III"}, "flac": {"format": "FLAC", "subtype": "PCM_16"}}
#: synthesised 30-s pieces the files are mixed from
N_PIECES = 8
TARGET_VS_ORIGINAL, TARGET_VS_CEILING = 1.8, 0.7
POOL = 2
GPU_COMMAND = "python -m benchmarks.extraction gpu"  # on a machine with a CUDA GPU; generates the files if needed


# -- the files ------------------------------------------------------------------------------------------------
def realistic_root() -> Path:
    """Generate the realistic set once (deterministic); returns its folder, with manifest.csv."""
    import numpy as np
    import pandas as pd
    import soundfile as sf

    from musiclust.data.demo import GENRES, synthesise_song

    root = WORK / "realistic44k"
    params = {"clips": N_CLIPS, "clip_seconds": CLIP_SECONDS, "songs": list(SONG_SECONDS), "formats": list(FORMATS),
              "pieces": N_PIECES, "sr": SOURCE_SR, "version": 1}
    stamp = root / "params.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == params and (root / "manifest.csv").is_file():
        return root
    print(f"  generating the realistic set in {root} (once) ...", flush=True)
    root.mkdir(parents=True, exist_ok=True)
    genres = list(GENRES)
    pieces = [synthesise_song(GENRES[genres[i % len(genres)]], np.random.default_rng([7, i]), SOURCE_SR,
                              CLIP_SECONDS) for i in range(N_PIECES)]

    def stereo(first: int, second: int, gain: float) -> np.ndarray:
        a, b = pieces[first % N_PIECES], pieces[second % N_PIECES]
        return gain * np.stack([0.7 * a + 0.3 * b, 0.3 * a + 0.7 * b], axis=1)

    rows = []
    for fmt, options in FORMATS.items():
        for i in range(N_CLIPS):
            rows.append((f"clip{i:02d}.{fmt}", stereo(i, i + 3, 0.9), CLIP_SECONDS))
        for j, seconds in enumerate(SONG_SECONDS):
            parts = int(np.ceil(seconds / CLIP_SECONDS))
            song = np.concatenate([stereo(j + k, j + 2 * k + 1, 0.75 + 0.03 * k) for k in range(parts)])
            rows.append((f"song{j}.{fmt}", song[: int(seconds * SOURCE_SR)], seconds))
        for name, audio, _ in rows[-(N_CLIPS + len(SONG_SECONDS)):]:
            sf.write(root / name, audio.astype(np.float32), SOURCE_SR, **options)
    manifest = pd.DataFrame({"id": [r[0] for r in rows], "audio_path": [str(root / r[0]) for r in rows],
                             "seconds": [r[2] for r in rows]})
    manifest.to_csv(root / "manifest.csv", index=False)
    stamp.write_text(json.dumps(params))
    return root


def manifest_of(root: Path):
    import pandas as pd

    return pd.read_csv(root / "manifest.csv")


# -- the sides, each run as a child process -------------------------------------------------------------------
def _original_features(path: str):
    import librosa
    import numpy as np

    y, _ = librosa.load(path, sr=SR, mono=True)
    mfcc = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=N_MFCC)
    stats = np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1), mfcc.min(axis=1), mfcc.max(axis=1)])
    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR, n_mels=N_MELS), ref=np.max)
    if mel.shape[1] >= FRAMES:  # centre crop, or pad with the minimum, to FRAMES columns
        mel = mel[:, (mel.shape[1] - FRAMES) // 2 :][:, :FRAMES]
    else:
        mel = np.pad(mel, ((0, 0), (0, FRAMES - mel.shape[1])), constant_values=float(mel.min()))
    return stats, mel


def baseline_child(root: Path) -> None:
    """The original approach: one file after the other, librosa.load + librosa.feature.* per file."""
    import numpy as np

    paths = manifest_of(root)["audio_path"].tolist()
    rows = [_original_features(path) for path in paths]
    np.save(WORK / "extraction_baseline_mfcc.npy", np.stack([r[0] for r in rows]))
    warm = time.perf_counter()
    for path in paths:
        _original_features(path)
    report({"files": len(paths), "warm_s": time.perf_counter() - warm})


def musiclust_child(root: Path, n_jobs: int, force_pool: bool) -> None:
    """musiclust: extract_audio with both features (decode once, shared STFT, ``n_jobs`` processes).

    ``force_pool``: use ``n_jobs`` worker processes even where musiclust would judge the audio too little to pay
    for starting them (what the pool itself costs and gives on this set)."""
    import numpy as np

    from musiclust.features import audio
    from musiclust.features.audio import LogMelSpec, MFCCStats, extract_audio

    if force_pool:
        audio.AUDIO_SECONDS_PER_WORKER = 1.0
    manifest = manifest_of(root)
    features = [MFCCStats(n_mfcc=N_MFCC), LogMelSpec(n_mels=N_MELS, frames=FRAMES)]
    paths = manifest["audio_path"].tolist()
    workers = 1 if n_jobs == 1 else audio.worker_count(n_jobs, len(paths), audio.audio_seconds(paths, None))
    mfcc, mel = extract_audio(manifest, features, n_jobs=n_jobs)
    np.save(WORK / f"extraction_musiclust{n_jobs}{'pool' if force_pool else ''}_mfcc.npy", mfcc.values)
    warm = time.perf_counter()
    extract_audio(manifest, features, n_jobs=n_jobs)  # again, with librosa imported and the workers started
    report({"files": len(manifest), "warm_s": time.perf_counter() - warm, "workers": workers,
            "shapes": [list(mfcc.values.shape), list(mel.values.shape)]})


def _decode(path: str):
    import numpy as np
    import soundfile as sf
    import soxr

    samples, rate = sf.read(path, dtype="float32", always_2d=True)
    mono = samples @ np.full(samples.shape[1], 1.0 / samples.shape[1], dtype=np.float32)
    return soxr.resample(mono, rate, SR, quality="HQ")


def _decode_stft(path: str):
    import librosa
    import numpy as np

    return np.abs(librosa.stft(_decode(path), n_fft=N_FFT, hop_length=HOP)) ** 2


def _ceiling_task(args: tuple[str, str]) -> float:
    mode, path = args
    (_decode if mode == "decode" else _decode_stft)(path)
    return 0.0


def ceiling_child(root: Path, mode: str) -> None:
    """Decode (+ STFT) every file in one warm process per core: the most a machine can do for these files."""
    import multiprocessing

    import librosa  # noqa: F401 - imported before forking: the workers start warm
    from threadpoolctl import threadpool_limits

    paths = manifest_of(root).sort_values("seconds", ascending=False)["audio_path"].tolist()
    _ceiling_task((mode, paths[-1]))  # numba and FFT plans warm before the fork
    cores = len(os.sched_getaffinity(0))
    with threadpool_limits(limits=1), multiprocessing.get_context("fork").Pool(cores) as pool:
        pool.map(_ceiling_task, [(mode, paths[-1])] * cores)  # every worker started
        start = time.perf_counter()
        list(pool.imap_unordered(_ceiling_task, [(mode, p) for p in paths]))
        seconds = time.perf_counter() - start
    report({"files": len(paths), "warm_s": seconds, "processes": cores})


def profile_child(root: Path) -> None:
    """Where one process's time goes per stage of musiclust's path, and the original loop's per-file time, on one
    file of each kind (best of 2, one BLAS thread)."""
    import librosa
    import soundfile as sf
    from threadpoolctl import threadpool_limits

    from musiclust.features.audio import LogMelSpec, MFCCStats, Spectra, decode, to_mono

    manifest = manifest_of(root)
    picks = {f"{'30-s clip' if n.startswith('clip') else f'{s:.0f}-s song'} {n.rsplit('.', 1)[1].upper()}": p
             for n, p, s in zip(manifest["id"], manifest["audio_path"], manifest["seconds"], strict=True)
             if n in ("clip00.mp3", "clip00.flac", "song2.mp3", "song2.flac")}
    features = [MFCCStats(n_mfcc=N_MFCC), LogMelSpec(n_mels=N_MELS, frames=FRAMES)]
    stages: dict[str, dict[str, float]] = {}
    with threadpool_limits(limits=1):
        for kind, path in picks.items():
            best: dict[str, float] = {}
            for _ in range(2):
                t = [time.perf_counter()]
                samples, rate = sf.read(path, dtype="float32", always_2d=True)
                t.append(time.perf_counter())
                mono = to_mono(samples)
                t.append(time.perf_counter())
                signal = librosa.resample(mono, orig_sr=rate, target_sr=SR, res_type="soxr_hq")
                t.append(time.perf_counter())
                spectra = Spectra(signal, SR)
                spectra.power(N_FFT, HOP)
                t.append(time.perf_counter())
                spectra.mel_power(N_FFT, HOP, 128), spectra.mel_power(N_FFT, HOP, N_MELS)
                t.append(time.perf_counter())
                for feature in features:
                    feature.from_spectra(spectra)
                t.append(time.perf_counter())
                librosa.to_mono(samples.T)
                t.append(time.perf_counter())
                decode(path, SR, None, 0.5)
                t.append(time.perf_counter())
                _original_features(path)
                t.append(time.perf_counter())
                names = ("read (libsndfile)", "downmix", "resample (soxr HQ)", "STFT", "mel filters (128 + 64)",
                         "dB, DCT, stats, windows", "librosa.to_mono (the original's downmix)",
                         "musiclust decode() in all", "the original loop in all")
                for name, a, b in zip(names, t, t[1:], strict=False):  # t has one more entry than names
                    best[name] = min(best.get(name, float("inf")), 1000 * (b - a))
            stages[kind] = best
    report({"stages": stages})


def gpu_child(root: Path) -> None:
    """Songs/s of the CPU path and the torch GPU path (feature.device=cuda) on the same files, warm, one process."""
    import torch

    from musiclust.features.audio import LogMelSpec, MFCCStats, extract_audio

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU: the GPU path cannot be measured here")
    manifest = manifest_of(root)
    rates = {}
    for device in ("cpu", "cuda"):
        features = [MFCCStats(n_mfcc=N_MFCC, device=device), LogMelSpec(n_mels=N_MELS, frames=FRAMES, device=device)]
        extract_audio(manifest.iloc[:2], features, n_jobs=1)  # warm: imports, CUDA context, FFT plans
        start = time.perf_counter()
        extract_audio(manifest, features, n_jobs=1)
        rates[device] = len(manifest) / (time.perf_counter() - start)
    print(f"| GPU path (feature.device=cuda) ÷ CPU path, songs/s, one process, warm | {rates['cuda']:.2f} / "
          f"{rates['cpu']:.2f} = {rates['cuda'] / rates['cpu']:.2f}× | {torch.cuda.get_device_name()}, load average "
          f"{load_average()} |")
    report({"songs_per_s": rates, "device": torch.cuda.get_device_name()})


# -- the benchmark ------------------------------------------------------------------------------------------------
def check_same_features() -> str:
    """musiclust computed the original's MFCC statistics (a fast wrong answer would be no result)."""
    import numpy as np

    baseline = np.load(WORK / "extraction_baseline_mfcc.npy")
    worst = 0.0
    for name in ("-1", "1", f"{POOL}pool"):
        ours = np.load(WORK / f"extraction_musiclust{name}_mfcc.npy")
        np.testing.assert_allclose(ours, baseline, rtol=1e-4, atol=2e-3, err_msg=name)
        worst = max(worst, float(np.abs(ours - baseline).max()))
    return (f"musiclust's MFCC statistics equal the original's within {worst:.1e} (float32 rounding of the mel "
            "product); its logmelspec covers each whole track in windows where the original kept one 128-frame crop.")


def run() -> dict[str, Any]:
    root = realistic_root()
    manifest = manifest_of(root)
    n_files, audio_minutes = len(manifest), manifest["seconds"].sum() / 60
    one_blas = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    sides = (  # interleaved so that changes in machine load hit all sides alike
        ("original loop (default BLAS threads)", ["baseline"], {}),
        ("musiclust (default n_jobs=-1)", ["musiclust", "-1"], {}),
        ("ceiling: decode only", ["ceiling", "decode"], {}),
        ("original loop (1 BLAS thread)", ["baseline"], one_blas),
        ("musiclust, one process (n_jobs=1)", ["musiclust", "1"], {}),
        ("ceiling: decode + STFT", ["ceiling", "decode_stft"], {}),
        (f"musiclust, pool of {POOL} forced", ["musiclust", str(POOL), "pool"], {}),
    )
    runs: dict[str, Any] = {}
    for name, args, env in sides:
        load = load_average().split(" / ")[0]  # the 1-minute load average when the side started
        m = measure(python("-m", "benchmarks.extraction", *args, str(root)), env=env).check()
        ceiling = args[0] == "ceiling"
        wall = m.result["warm_s"] if ceiling else m.wall_s - m.result["warm_s"]
        runs[name] = {**m.result, "wall_s": wall, "files_per_s": n_files / wall, "load": load, "cores": m.cores,
                      "steady_files_per_s": n_files / m.result["warm_s"], "peak_mb": m.tree_peak_mb}
        print(f"  {name:38s} {runs[name]['files_per_s']:6.2f} files/s end to end ({wall:5.1f} s), "
              f"{runs[name]['steady_files_per_s']:6.2f} steady, load {load}", flush=True)
    profile = measure(python("-m", "benchmarks.extraction", "profile", str(root))).check().result
    same = check_same_features()
    originals = {k: v for k, v in runs.items() if k.startswith("original")}
    best_name = max(originals, key=lambda k: originals[k]["files_per_s"])
    best = originals[best_name]
    ours, one = runs["musiclust (default n_jobs=-1)"], runs["musiclust, one process (n_jobs=1)"]
    pool = runs[f"musiclust, pool of {POOL} forced"]
    ceiling = runs["ceiling: decode + STFT"]
    vs_original = ours["files_per_s"] / best["files_per_s"]
    vs_ceiling = ours["files_per_s"] / ceiling["files_per_s"]
    default_vs_one = ours["files_per_s"] / one["files_per_s"]
    ratios = [
        ("musiclust default ÷ the faster original loop, end to end", vs_original, f"≥ {TARGET_VS_ORIGINAL}×",
         vs_original >= TARGET_VS_ORIGINAL, f"{ours['load']} / {best['load']}"),
        ("musiclust default ÷ the original loop, steady (warm processes)",
         ours["steady_files_per_s"] / best["steady_files_per_s"], "", None, f"{ours['load']} / {best['load']}"),
        ("musiclust default end to end ÷ the decode + STFT ceiling", vs_ceiling, f"≥ {TARGET_VS_CEILING:.0%}",
         vs_ceiling >= TARGET_VS_CEILING, f"{ours['load']} / {ceiling['load']}"),
        ("musiclust default steady ÷ the decode + STFT ceiling",
         ours["steady_files_per_s"] / ceiling["files_per_s"], "", None, f"{ours['load']} / {ceiling['load']}"),
        ("musiclust one process steady ÷ the decode-only ceiling",
         one["steady_files_per_s"] / runs["ceiling: decode only"]["files_per_s"], "", None,
         f"{one['load']} / {runs['ceiling: decode only']['load']}"),
        ("n_jobs default ÷ one process, end to end" + (" (both one process: the same code path, the gap is the "
                                                       "machine's load changing)" if ours["workers"] == 1 else ""),
         default_vs_one, "≥ 1× (never slower)", default_vs_one >= 0.95, f"{ours['load']} / {one['load']}"),
        (f"pool of {POOL} forced ÷ one process, end to end", pool["files_per_s"] / one["files_per_s"], "", None,
         f"{pool['load']} / {one['load']}"),
    ]
    stage_names = list(next(iter(profile["stages"].values())))
    lines = [
        f"{n_files} files, {audio_minutes:.0f} min of 44.1 kHz stereo audio: per format (MP3, FLAC) {N_CLIPS} clips "
        f"of {CLIP_SECONDS:.0f} s and songs of {', '.join(f'{s:.0f}' for s in SONG_SECONDS)} s, generated by the "
        f"benchmark. Features mfcc ({N_MFCC}×4 stats) + logmelspec ({N_MELS} mels, windows of {FRAMES} frames) at "
        f"{SR} Hz; the original loop computes the same MFCC statistics and one {FRAMES}-frame log-mel crop. "
        f"{same} With n_jobs=-1 musiclust used {ours['workers']} process(es) (-1 counts the cores left idle by the "
        f"1-minute load average); the forced pool used {pool['workers']}. The ceiling runs one warm process per core "
        f"({ceiling['processes']} here). Resampling is soxr (HQ), librosa.load's own default, in both paths.",
        "",
        "| side | end-to-end files/s (wall s) | steady files/s | cores obtained | peak memory (tree) | 1-min load "
        "average at its start |",
        "|---|---|---|---|---|---|",
        *(f"| {k} | {v['files_per_s']:.2f} ({v['wall_s']:.1f} s) | {v['steady_files_per_s']:.2f} | {v['cores']:.2f} | "
          f"{v['peak_mb']:.0f} MB | {v['load']} |" for k, v in runs.items()),
        "",
        "Ratios (the ceiling rows are warm by construction: their end-to-end and steady rates are the same):",
        "",
        "| ratio | value | target | met | 1-min load average when each side started |",
        "|---|---|---|---|---|",
        *(f"| {name} | {fmt_ratio(value)} | {target or '—'} | {'—' if met is None else ('yes' if met else 'NO')} | "
          f"{load} |" for name, value, target, met, load in ratios),
        "",
        "Where one process's time goes, ms per file (best of 2, one BLAS thread); the first six rows are musiclust's "
        "path stage by stage:",
        "",
        f"| stage | {' | '.join(profile['stages'])} |",
        f"|---|{'---|' * len(profile['stages'])}",
        *(f"| {stage} | {' | '.join(f'{v[stage]:.1f}' for v in profile['stages'].values())} |"
          for stage in stage_names),
        "",
        "GPU path (`feature.device=cuda`, torch STFT → mel → dB in batches of songs): **not measured here — blocked: "
        "no device** (this task was lent no GPU machine). To measure songs/s of both paths on these files and their "
        f"ratio: `{GPU_COMMAND}`.",
    ]
    return {"title": "Extraction on realistic files", "ratio": vs_original, "target": TARGET_VS_ORIGINAL,
            "met": vs_original >= TARGET_VS_ORIGINAL and vs_ceiling >= TARGET_VS_CEILING,
            "summary": (f"{fmt_ratio(vs_original)} the original loop end to end (target {TARGET_VS_ORIGINAL}×), "
                        f"{vs_ceiling:.0%} of the decode + STFT ceiling (target {TARGET_VS_CEILING:.0%}), n_jobs "
                        f"default {fmt_ratio(default_vs_one)} one process; load {ours['load']}"),
            "lines": lines}


if __name__ == "__main__":
    kind, where = sys.argv[1], Path(sys.argv[-1])
    if kind == "gpu":
        gpu_child(realistic_root())
    elif kind == "musiclust":
        musiclust_child(where, n_jobs=int(sys.argv[2]), force_pool="pool" in sys.argv[3:-1])
    elif kind == "ceiling":
        ceiling_child(where, sys.argv[2])
    else:
        {"baseline": baseline_child, "profile": profile_child}[kind](where)
