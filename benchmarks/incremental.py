"""(7) A grown collection: add 1 % new songs to 2,000 and extract again; only the new songs are computed.

In one fresh process: the fixed start-up of audio work (import librosa, numba's compiled code) is paid first on one
file, then the feature stage (``features_for``: song keys, store index, shard checksums, extraction of what is
missing) runs on 2,000 demo songs with an empty store (the full extraction), on the same 2,000 plus 20 new songs
scattered through the manifest (the incremental run), and once more unchanged. Both sides of the ratio run in the
same warm process, one after the other; the start-up each fresh process pays once is shown beside them.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any

from benchmarks.common import WORK, demo_root, load_average, measure, python, report

N_BASE, N_NEW, DURATION = 2000, 20, 4.0
TARGET = 0.02
FEATURE = {"_target_": "musiclust.features.MFCCStats", "n_jobs": 1}


def child(root: str, cache: str) -> None:
    from musiclust.data.demo import DemoDataset
    from musiclust.features.audio import MFCCStats, decode
    from musiclust.features.base import features_for

    manifest = DemoDataset(root=root, n_songs=N_BASE + N_NEW, seed=0, sr=22050, duration=DURATION).load()
    start = time.perf_counter()
    signal, _ = decode(manifest["audio_path"][0], 22050, None, 0.5)
    MFCCStats().from_signal(signal)
    warmed = time.perf_counter()
    new = manifest.index % ((N_BASE + N_NEW) // N_NEW) == 0  # 20 songs spread over the manifest
    timings, counts = {}, {}
    for name, songs in (("full", manifest[~new]), ("incremental", manifest), ("unchanged", manifest)):
        begin = time.perf_counter()
        features, used = features_for(FEATURE, songs.reset_index(drop=True), cache)
        timings[name], counts[name] = time.perf_counter() - begin, (used.computed, used.loaded)
        assert len(features.ids) == len(songs)
    report({"startup_s": warmed - start, "timings": timings, "counts": counts, "n_new": int(new.sum())})


def run() -> dict[str, Any]:
    root = demo_root(N_BASE + N_NEW, duration=DURATION)
    cache = WORK / "incremental" / "cache"
    shutil.rmtree(cache.parent, ignore_errors=True)
    load_before = load_average()
    m = measure(python("-m", "benchmarks.incremental", "child", str(root), str(cache)), timeout=3600).check()
    t, counts = m.result["timings"], m.result["counts"]
    ratio = t["incremental"] / t["full"]
    lines = [
        f"{N_BASE:,} demo songs ({DURATION:.0f} s WAV each, mfcc statistics, one process) with an empty store, then "
        f"{m.result['n_new']} new songs (1 %) added through the manifest, then the same again. Load average before: "
        f"{load_before}, after: {load_average()}.",
        "",
        "| feature stage | seconds | songs computed / loaded |",
        "|---|---|---|",
        f"| full extraction ({N_BASE:,} songs) | {t['full']:.2f} | {counts['full'][0]:,} / {counts['full'][1]:,} |",
        f"| incremental (+{m.result['n_new']} songs) | {t['incremental']:.3f} | {counts['incremental'][0]:,} / "
        f"{counts['incremental'][1]:,} |",
        f"| unchanged | {t['unchanged']:.3f} | {counts['unchanged'][0]:,} / {counts['unchanged'][1]:,} |",
        f"| (fixed start-up of a fresh process's first audio: import librosa, load numba code) | "
        f"{m.result['startup_s']:.2f} | |",
        "",
        f"**Incremental / full: {100 * ratio:.2f} %** (target ≤ {100 * TARGET:.0f} %). A fresh process that only adds "
        f"the new songs also pays the start-up once: {t['incremental'] + m.result['startup_s']:.2f} s, "
        f"{100 * (t['incremental'] + m.result['startup_s']) / (t['full'] + m.result['startup_s']):.1f} % of a fresh "
        "full extraction; with real tracks (minutes, not 4 s) the full extraction grows and that share shrinks.",
    ]
    shutil.rmtree(cache.parent, ignore_errors=True)
    ok = ratio <= TARGET and counts["incremental"][0] == m.result["n_new"] and counts["unchanged"][0] == 0
    return {"title": "Adding 1 % of songs", "ratio": ratio, "target": TARGET, "met": ok,
            "summary": f"{100 * ratio:.2f} % of the full extraction's time, {counts['incremental'][0]} songs computed",
            "lines": lines}


if __name__ == "__main__":
    child(sys.argv[2], sys.argv[3])
