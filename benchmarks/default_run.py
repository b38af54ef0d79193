"""(4) Peak memory of a default run (what ``make run`` does) on the 180-song demo: first with an empty
feature cache (parallel extraction), then again with the features cached.
"""

from __future__ import annotations

import shutil
from typing import Any

import pandas as pd

from benchmarks.common import WORK, demo_root, fmt_ratio, load_average, measure, python


def run() -> dict[str, Any]:
    root = demo_root(180)
    base = WORK / "default_run"
    shutil.rmtree(base, ignore_errors=True)
    load_before = load_average()
    runs = {}
    for name in ("first", "cached"):
        run_dir = base / name
        m = measure(python("-m", "musiclust", f"dataset.root={root}", f"paths.cache_dir={base / 'cache'}",
                           f"paths.log_dir={WORK / 'outputs'}", f"hydra.run.dir={run_dir}",
                           "trainer.enable_progress_bar=false")).check()
        row = pd.read_csv(run_dir / "clustering_metrics.csv").iloc[0]
        runs[name] = {"wall_s": m.wall_s, "main_mb": m.main_peak_mb, "tree_mb": m.tree_peak_mb,
                      "feature_s": row["feature_seconds"], "epochs": row.get("epochs_trained", ""),
                      "nmi": row["nmi"], "from_cache": bool(row["features_from_cache"])}
        print(f"  {name:7s} wall {m.wall_s:5.1f} s, peak main {m.main_peak_mb:5.0f} MB, "
              f"process tree {m.tree_peak_mb:5.0f} MB", flush=True)
    first, cached = runs["first"], runs["cached"]
    lines = [
        "`musiclust` with the default config (demo dataset, 180 songs; mfcc → VAE (mlp) → k-means, t-SNE and "
        f"distribution plots), in a fresh process. Load average before: {load_before}, after: {load_average()}.",
        "",
        "| run | wall s | feature s | epochs (early stopping) | peak memory, main process | peak memory, process "
        "tree (main + extraction workers) | NMI |",
        "|---|---|---|---|---|---|---|",
        *(f"| {name} | {r['wall_s']:.1f} | {r['feature_s']:.2f} | {r['epochs']} | {r['main_mb']:.0f} MB | "
          f"{r['tree_mb']:.0f} MB | {r['nmi']:.3f} |" for name, r in runs.items()),
        "",
        f"**Peak memory {first['tree_mb']:.0f} MB** (process tree, first run; {first['main_mb']:.0f} MB in the main "
        f"process); the cached run needs {fmt_ratio(first['tree_mb'] / cached['tree_mb'])} less memory and is "
        f"{fmt_ratio(first['wall_s'] / cached['wall_s'])} faster. The tree figure adds up each process's resident "
        "memory, counting shared library pages once per process, so it overstates the true total.",
    ]
    if not cached["from_cache"] or cached["nmi"] != first["nmi"]:
        raise RuntimeError(f"the cached default run must reuse the features and give the same result: {runs}")
    return {"title": "Default run (`make run`)", "ratio": first["wall_s"] / cached["wall_s"], "target": None,
            "met": None,
            "summary": f"peak {first['tree_mb']:.0f} MB (tree), {first['main_mb']:.0f} MB (main)", "lines": lines}
