"""(1) Extraction throughput: musiclust's mfcc + logmelspec vs the original sequential librosa loop.

Each side runs in a fresh process and is timed end to end (imports, librosa/numba warm-up, worker start-up,
all files), because that is what one experiment run pays. The steady-state rate (warm processes) is
reported too. The baseline runs twice: with default BLAS threading (what the original script did) and
with one BLAS thread (often faster on a busy 2-core machine); the headline ratio uses the faster one.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import WORK, demo_root, fmt_ratio, load_average, measure, python, report

N_SONGS = 240
SR, N_MFCC, N_MELS, FRAMES = 22050, 20, 64, 128
TARGET = 1.8
#: worker processes of the forced-pool run
POOL = 2


def baseline_child(root: Path) -> None:
    """The original approach: one file after the other, librosa.load + librosa.feature.* per file."""
    start = time.perf_counter()
    import librosa
    import numpy as np

    imported = time.perf_counter()
    paths = sorted((root / "audio").glob("*.wav"))
    mfcc_rows, mel_rows, first = [], [], 0.0
    for i, path in enumerate(paths):
        y, _ = librosa.load(path, sr=SR, mono=True)
        mfcc = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=N_MFCC)
        mfcc_rows.append(np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1), mfcc.min(axis=1), mfcc.max(axis=1)]))
        mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR, n_mels=N_MELS), ref=np.max)
        if mel.shape[1] >= FRAMES:  # centre crop, or pad with the minimum, to FRAMES columns
            mel = mel[:, (mel.shape[1] - FRAMES) // 2 :][:, :FRAMES]
        else:
            mel = np.pad(mel, ((0, 0), (0, FRAMES - mel.shape[1])), constant_values=float(mel.min()))
        mel_rows.append(mel)
        if i == 0:
            first = time.perf_counter()
    mfcc_values, mel_values = np.stack(mfcc_rows), np.stack(mel_rows)[:, None]
    end = time.perf_counter()
    np.savez(WORK / "extraction_baseline.npz", mfcc=mfcc_values, logmelspec=mel_values)
    report({"files": len(paths), "import_s": imported - start, "steady_files_per_s": (len(paths) - 1) / (end - first),
            "shapes": [list(mfcc_values.shape), list(mel_values.shape)]})


def musiclust_child(root: Path, n_jobs: int = -1, force_pool: bool = False) -> None:
    """musiclust: extract_audio with both features (decode once, shared STFT, ``n_jobs`` processes).

    ``force_pool``: use ``n_jobs`` worker processes even where musiclust would judge the audio too little to pay
    for starting them (what the pool itself costs and gives on this set).
    """
    start = time.perf_counter()
    import numpy as np

    from musiclust.data.demo import DemoDataset
    from musiclust.features import audio
    from musiclust.features.audio import LogMelSpec, MFCCStats, extract_audio

    if force_pool:
        audio.AUDIO_SECONDS_PER_WORKER = 1.0
    imported = time.perf_counter()
    manifest = DemoDataset(root=str(root), n_songs=N_SONGS, seed=0, sr=SR, duration=4.0).load()
    features = [MFCCStats(n_mfcc=N_MFCC), LogMelSpec(n_mels=N_MELS, frames=FRAMES)]
    mfcc, mel = extract_audio(manifest, features, n_jobs=n_jobs)
    cold = time.perf_counter()
    np.savez(WORK / f"extraction_musiclust{n_jobs}{'pool' if force_pool else ''}.npz", mfcc=mfcc.values,
             logmelspec=mel.values)
    extract_audio(manifest, features, n_jobs=n_jobs)  # again, with librosa imported and the workers started
    warm = time.perf_counter() - cold
    paths = manifest["audio_path"].tolist()
    report({"files": len(manifest), "import_s": imported - start, "cold_extract_s": cold - imported,
            "warm_extract_s": warm, "steady_files_per_s": len(manifest) / warm,
            "workers": 1 if n_jobs == 1 else audio.worker_count(n_jobs, len(paths), audio.audio_seconds(paths, None)),
            "shapes": [list(mfcc.values.shape), list(mel.values.shape)]})


def _baseline_files(paths: list[Path]) -> None:
    import librosa
    import numpy as np

    for path in paths:
        y, _ = librosa.load(path, sr=SR, mono=True)
        mfcc = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=N_MFCC)
        np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1), mfcc.min(axis=1), mfcc.max(axis=1)])
        librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR, n_mels=N_MELS), ref=np.max)


def profile_child(root: Path) -> None:
    """Where a fresh process's time goes before its first feature; per-file work of both approaches in this one
    process (one BLAS thread, interleaved); a profile of musiclust's per-file work."""
    import cProfile
    import io
    import pstats

    stages, last = {}, time.perf_counter()

    def stage(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        stages[name] = now - last
        last = now

    import numpy  # noqa: F401

    stage("import numpy")
    import scipy.signal  # noqa: F401 - imported by librosa.core.audio; timed on its own here

    stage("import scipy.signal (needed by librosa.core)")
    import librosa

    paths = sorted((root / "audio").glob("*.wav"))
    y, _ = librosa.load(paths[0], sr=SR, mono=True)
    stage("first librosa.load (imports librosa.core: numba ufuncs, cached numba code)")
    librosa.feature.mfcc(y=y, sr=SR, n_mfcc=N_MFCC)
    stage("first librosa.feature.mfcc (imports librosa.feature)")

    from threadpoolctl import threadpool_limits

    from musiclust.features.audio import LogMelSpec, MFCCStats, _extract_chunk

    features = [MFCCStats(n_mfcc=N_MFCC), LogMelSpec(n_mels=N_MELS, frames=FRAMES)]
    sample = paths[:60]
    per_file = {"baseline": [], "musiclust": []}
    with threadpool_limits(limits=1, user_api="blas"):
        _baseline_files(sample[:2])
        _extract_chunk([str(p) for p in sample[:2]], features)
        for _ in range(2):
            for name in per_file:
                begin = time.perf_counter()
                if name == "baseline":
                    _baseline_files(sample)
                else:
                    _extract_chunk([str(p) for p in sample], features)
                per_file[name].append(1000 * (time.perf_counter() - begin) / len(sample))
    profiler = cProfile.Profile()
    profiler.enable()
    _extract_chunk([str(p) for p in sample], features)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(8)
    top = [line.strip() for line in text.getvalue().splitlines() if line.strip()[:1].isdigit()][1:9]
    report({"stages": stages, "per_file_ms": {k: min(v) for k, v in per_file.items()}, "profile": top})


def check_same_features() -> str:
    """Both approaches computed the same numbers (a fast wrong answer would be no result)."""
    import numpy as np

    baseline = np.load(WORK / "extraction_baseline.npz")
    for name in ("-1", "1", f"{POOL}pool"):
        ours = np.load(WORK / f"extraction_musiclust{name}.npz")
        for name in ("mfcc", "logmelspec"):
            np.testing.assert_allclose(ours[name], baseline[name], rtol=1e-4, atol=1e-3, err_msg=name)
    worst = float(np.abs(np.load(WORK / "extraction_musiclust-1.npz")["mfcc"] - baseline["mfcc"]).max())
    return f"Both give the same features (largest mfcc difference {worst:.1e})."


def run() -> dict[str, Any]:
    from musiclust.features import audio

    root = demo_root(N_SONGS)
    runs: dict[str, Any] = {}
    load_before = load_average()
    # interleaved so that changes in machine load hit both sides alike
    for name, args, env in (
        ("baseline (default BLAS threads)", ["baseline"], {}),
        ("musiclust", ["musiclust", "-1"], {}),
        ("baseline (1 BLAS thread)", ["baseline"], {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                                                      "MKL_NUM_THREADS": "1"}),
        ("musiclust, one process (n_jobs=1)", ["musiclust", "1"], {}),
        (f"musiclust, pool of {POOL} forced (n_jobs={POOL})", ["musiclust", str(POOL), "pool"], {}),
    ):
        m = measure(python("-m", "benchmarks.extraction", *args, str(root)), env=env).check()
        # end to end: the child's wall time with interpreter start-up, imports and warm-up (for musiclust
        # without its second, warm pass, which gives the steady rate)
        wall = m.wall_s - m.result.get("warm_extract_s", 0.0)
        runs[name] = {"wall_s": wall, "files_per_s": m.result["files"] / wall, "cores": m.cores,
                      "steady_files_per_s": m.result["steady_files_per_s"], "peak_mb": m.tree_peak_mb, **m.result}
        print(f"  {name:34s} {runs[name]['files_per_s']:6.1f} files/s end to end "
              f"({wall:5.1f} s), {runs[name]['steady_files_per_s']:6.1f} files/s steady", flush=True)
    profile = measure(python("-m", "benchmarks.extraction", "profile", str(root))).check().result
    ours = runs["musiclust"]
    pool_name = f"musiclust, pool of {POOL} forced (n_jobs={POOL})"
    baselines = {k: v for k, v in runs.items() if k.startswith("baseline")}
    best_name = max(baselines, key=lambda k: baselines[k]["files_per_s"])
    ratio = ours["files_per_s"] / baselines[best_name]["files_per_s"]
    steady_best = max(v["steady_files_per_s"] for v in baselines.values())
    steady_ratio = ours["steady_files_per_s"] / steady_best
    same = check_same_features()
    lines = [
        f"{N_SONGS} demo files (4 s each, 22.05 kHz WAV), features mfcc (20×4 stats) + logmelspec (64×128); "
        f"with n_jobs=-1 musiclust used {ours['workers']} process(es): {N_SONGS * 4} s of audio, "
        f"{N_SONGS * 4 / audio.AUDIO_SECONDS_PER_WORKER:.2f}× what pays for one worker's start-up "
        f"(`AUDIO_SECONDS_PER_WORKER`). {same} Load average before: "
        f"{load_before}, after: {load_average()}.",
        "",
        "| approach | end-to-end files/s (wall s) | steady files/s | fixed start-up ≈ wall − files/steady | "
        "cores obtained (CPU s / wall s) | peak memory (process tree) |",
        "|---|---|---|---|---|---|",
        *(f"| {k} | {v['files_per_s']:.1f} ({v['wall_s']:.1f} s) | {v['steady_files_per_s']:.1f} | "
          f"{v['wall_s'] - v['files'] / v['steady_files_per_s']:.1f} s | {v['cores']:.2f} | {v['peak_mb']:.0f} MB |"
          for k, v in runs.items()),
        "",
        f"**Ratio (end to end, vs the faster baseline: {best_name}): {fmt_ratio(ratio)}** (target ≥ {TARGET}×). "
        f"Steady state (warm processes, no start-up): {fmt_ratio(steady_ratio)}. musiclust in one process: "
        f"{fmt_ratio(runs['musiclust, one process (n_jobs=1)']['files_per_s'] / baselines[best_name]['files_per_s'])} "
        f"end to end; with a pool of {POOL} forced: "
        f"{fmt_ratio(runs[pool_name]['files_per_s'] / baselines[best_name]['files_per_s'])} end to end, "
        f"{fmt_ratio(runs[pool_name]['steady_files_per_s'] / steady_best)} steady (the second pass reuses the "
        "workers loky keeps).",
        "",
        "Where a fresh process's time goes before its first feature (the baseline and musiclust's one process pay "
        "this once, a pool once per worker, each a fresh interpreter; a pool's main process never imports "
        "librosa):",
        "",
        "| stage | seconds |",
        "|---|---|",
        *(f"| {name} | {seconds:.2f} |" for name, seconds in profile["stages"].items()),
        "",
        f"Per-file work measured in one process (one BLAS thread, interleaved, best of 2 × 60 files): baseline "
        f"{profile['per_file_ms']['baseline']:.1f} ms, musiclust {profile['per_file_ms']['musiclust']:.1f} ms "
        f"({fmt_ratio(profile['per_file_ms']['baseline'] / profile['per_file_ms']['musiclust'])} less work per "
        "file: one STFT for both features, mel filters built once). Parallel processes multiply this only "
        "when the cores are free: 'cores obtained' above shows what each run actually got. cProfile of "
        "musiclust's per-file work, by own time:",
        "",
        "```",
        "ncalls  tottime  percall  cumtime  percall filename:lineno(function)",
        *profile["profile"],
        "```",
    ]
    return {"title": "Extraction throughput", "ratio": ratio, "target": TARGET, "met": ratio >= TARGET,
            "summary": f"{fmt_ratio(ratio)} end to end ({fmt_ratio(steady_ratio)} steady)", "lines": lines}


if __name__ == "__main__":
    if sys.argv[1] == "musiclust":
        musiclust_child(Path(sys.argv[-1]), n_jobs=int(sys.argv[2]), force_pool="pool" in sys.argv[3:-1])
    else:
        {"baseline": baseline_child, "profile": profile_child}[sys.argv[1]](Path(sys.argv[2]))
