"""(2) Feature cache: a 6-job sweep run twice; the second run reads every feature from the cache.

Feature work per job is ``feature_seconds`` in its clustering_metrics.csv (dataset load, fingerprint and
feature extraction or cache load). The sweep uses the closed-form models and no plots, so it is quick.
"""

from __future__ import annotations

import shutil
from typing import Any

import pandas as pd

from benchmarks.common import WORK, demo_root, fmt_ratio, load_average, measure, python

TARGET = 10.0
GRID = ["feature=mfcc,mfcc_frames,logmelspec", "model=pca,raw"]


def sweep(name: str, root, cache) -> tuple[pd.DataFrame, float]:
    sweep_dir = WORK / "sweep_cache" / name
    shutil.rmtree(sweep_dir, ignore_errors=True)
    args = python(
        "-m", "musiclust", "-m", *GRID, f"dataset.root={root}", f"paths.cache_dir={cache}",
        f"paths.log_dir={WORK / 'outputs'}", f"hydra.sweep.dir={sweep_dir}", "trainer.enable_progress_bar=false",
        "~outputs.projections", "~outputs.distributions", "~outputs.reconstructions",
    )
    m = measure(args).check()
    rows = pd.concat([pd.read_csv(p) for p in sorted(sweep_dir.glob("*/clustering_metrics.csv"))], ignore_index=True)
    if len(rows) != 6:
        raise RuntimeError(f"expected 6 finished jobs in {sweep_dir}, found {len(rows)}:\n{m.output[-3000:]}")
    return rows, m.wall_s


def run() -> dict[str, Any]:
    root = demo_root(180)
    cache = WORK / "sweep_cache" / "features"
    shutil.rmtree(cache, ignore_errors=True)  # the first run starts from an empty cache
    load_before = load_average()
    first, first_wall = sweep("first", root, cache)
    second, second_wall = sweep("second", root, cache)
    first_s, second_s = first["feature_seconds"].sum(), second["feature_seconds"].sum()
    ratio = first_s / second_s
    lines = [
        f"`musiclust -m {' '.join(GRID)}` (6 jobs, 180 demo songs, 3 distinct features) with an empty cache, then "
        f"again. Load average before: {load_before}, after: {load_average()}.",
        "",
        "| run | feature_seconds (sum of 6 jobs) | jobs with features from cache | sweep wall time |",
        "|---|---|---|---|",
        f"| first | {first_s:.2f} s | {int(first['features_from_cache'].sum())}/6 | {first_wall:.1f} s |",
        f"| cached re-run | {second_s:.2f} s | {int(second['features_from_cache'].sum())}/6 | {second_wall:.1f} s |",
        "",
        f"**Ratio (feature time, first / cached): {fmt_ratio(ratio)}** (target ≥ {TARGET:.0f}×). Per cached job: "
        f"{1000 * second_s / 6:.0f} ms (manifest, fingerprint, memory-mapped load).",
    ]
    ok = ratio >= TARGET and int(second["features_from_cache"].sum()) == 6
    return {"title": "Cached sweep re-run", "ratio": ratio, "target": TARGET, "met": ok,
            "summary": f"{fmt_ratio(ratio)} less feature time", "lines": lines}
