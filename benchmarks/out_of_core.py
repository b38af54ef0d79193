"""(6) Out of core: a whole run on 100,000 songs' log-mel maps (3.3 GB of float32) within 4 GB of memory.

Synthetic maps (1 × 64 × 128 per song, 6 "genres" with their own band profiles + noise) are written into the feature
store as the extraction would have left them (one entry per song, keyed by its file's path, size and mtime: the
audio files are empty placeholders, never decoded). Then one ``musiclust`` process runs end to end on them: reads
the store (checksums), fits the normalisation in one streaming pass, trains a small autoencoder for 2 epochs on
batches read from disk, embeds every song, clusters (MiniBatchKMeans: the large-N path), evaluates, writes every
output (metrics, latents, t-SNE of a 5,000-song sample, distributions, reconstructions). Its peak resident memory
is measured with ``wait4`` (main process) and by sampling the process tree.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import WORK, load_average, measure, python, report

N, K, N_MELS, FRAMES = 100_000, 6, 64, 128
TARGET_MB = 4096
BASE = WORK / "out_of_core"
#: the run's overrides, shared by the setup (which builds the same feature to find its store) and the run
RUN = ["dataset=manifest", f"dataset.path={BASE / 'audio' / 'songs.csv'}", "dataset.label_columns=[genre]",
       "label_col=genre", f"k={K}", "feature=logmelspec", f"feature.n_mels={N_MELS}", f"feature.frames={FRAMES}",
       "model=ae", "model.latent_dim=16", "backbone=mlp", "backbone.flatten=true", "backbone.hidden_dims=[128]",
       "trainer.max_epochs=2", "batch_size=256", f"paths.cache_dir={BASE / 'cache'}",
       "trainer.enable_progress_bar=false"]


def setup() -> None:
    """The manifest, 100k empty placeholder files and the store with every song's synthetic map."""
    import numpy as np
    import pandas as pd
    from hydra import compose, initialize_config_dir

    from musiclust.features.base import FeatureStores
    from musiclust.instantiate import build
    from musiclust.run import CONFIG_DIR

    start = time.perf_counter()
    audio = BASE / "audio"
    genres = np.random.default_rng(0).integers(0, K, size=N)
    rows = []
    for i in range(N):
        path = audio / f"{i // 1000:03d}" / f"s{i:06d}.wav"
        if i % 1000 == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        rows.append((f"s{i:06d}", str(path.relative_to(audio)), f"genre{genres[i]}"))
    pd.DataFrame(rows, columns=["id", "audio_path", "genre"]).to_csv(audio / "songs.csv", index=False)
    placed = time.perf_counter()

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=RUN)
    extractor = build(cfg.feature)
    manifest = build(cfg.dataset).load()
    keys = extractor.song_keys(manifest, "stat")
    store = FeatureStores(cfg.paths.cache_dir).songs(extractor)
    store.prepare(extractor.cache_config())
    bands = np.arange(N_MELS)[:, None]
    frames = np.arange(FRAMES)[None, :]
    profiles = np.stack([-45 + 18 * np.sin(bands * (0.05 + 0.03 * g) + g) + 4 * np.cos(frames * (0.04 + 0.02 * g))
                         for g in range(K)]).astype(np.float32)  # (K, bands, frames) in dB
    rng = np.random.default_rng(1)
    writer = store.writer(windowed=True)
    label = manifest["genre"].str.removeprefix("genre").astype(int).to_numpy()
    for begin in range(0, N, 4096):
        end = min(N, begin + 4096)
        values = profiles[label[begin:end]] + rng.standard_normal((end - begin, N_MELS, FRAMES), dtype=np.float32) * 9
        writer.add(keys[begin:end].tolist(), values[:, None], [1] * (end - begin))
    writer.flush()
    size = sum(p.stat().st_size for p in store.songs_dir.iterdir())
    report({"files_s": placed - start, "store_s": time.perf_counter() - placed, "store_bytes": size})


def run() -> dict[str, Any]:
    import pandas as pd

    shutil.rmtree(BASE, ignore_errors=True)
    load_before = load_average()
    prepared = measure(python("-m", "benchmarks.out_of_core", "setup"), timeout=1800).check().result
    print(f"  setup: {N:,} placeholder files in {prepared['files_s']:.0f} s, store of "
          f"{prepared['store_bytes'] / 1e9:.2f} GB written in {prepared['store_s']:.0f} s", flush=True)
    run_dir = BASE / "run"
    m = measure(python("-m", "musiclust", *RUN, f"hydra.run.dir={run_dir}", f"paths.log_dir={BASE / 'outputs'}"),
                timeout=3600).check()
    row = pd.read_csv(run_dir / "clustering_metrics.csv").iloc[0]
    outputs = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file()
                     and not p.is_relative_to(run_dir / ".hydra") and not p.is_relative_to(run_dir / "logs"))
    print(f"  run: wall {m.wall_s:.0f} s, peak main {m.main_peak_mb:.0f} MB, process tree {m.tree_peak_mb:.0f} MB, "
          f"NMI {row['nmi']:.3f}", flush=True)
    values_gb = N * N_MELS * FRAMES * 4 / 1e9
    peak = max(m.main_peak_mb, m.tree_peak_mb)
    lines = [
        f"{N:,} songs × one (1, {N_MELS}, {FRAMES}) log-mel map: {values_gb:.2f} GB of float32 in the feature store "
        f"({prepared['store_bytes'] / 1e9:.2f} GB on disk; {2 * values_gb:.2f} GB as the float64 copy the old "
        "standardiser made), then one `musiclust` process: "
        f"`{' '.join(r for r in RUN if not r.startswith(('dataset.path', 'paths.')))}`. "
        f"Load average before: {load_before}, after: {load_average()}.",
        "",
        "| stage | value |",
        "|---|---|",
        f"| setup (not measured): {N:,} placeholder files, store written | {prepared['files_s']:.0f} s, "
        f"{prepared['store_s']:.0f} s |",
        f"| songs loaded from the store / computed | {int(row['features_loaded']):,} / "
        f"{int(row['features_computed']):,} |",
        f"| feature stage (manifest, keys, shard checksums) | {row['feature_seconds']:.1f} s |",
        f"| run until the metrics (normalise, train {int(row['epochs_trained'])} epochs, embed, cluster, evaluate) | "
        f"{row['total_seconds']:.0f} s |",
        f"| process wall time (+ imports, config, writing the outputs and plots) | {m.wall_s:.0f} s |",
        f"| clusterer | {row['clusterer_class']} (k={K}), NMI {row['nmi']:.3f}, silhouette "
        f"{row['silhouette']:.3f} |",
        f"| peak memory, main process (wait4) | {m.main_peak_mb:.0f} MB |",
        f"| peak memory, process tree (sampled) | {m.tree_peak_mb:.0f} MB |",
        f"| outputs | {', '.join(outputs)} |",
        "",
        f"**Peak memory {peak:.0f} MB** for {values_gb:.1f} GB of features (target ≤ {TARGET_MB} MB): batches are read "
        "from the shards with `pread` and normalised one at a time; the normalisation statistics come from one "
        "streaming pass; nothing holds the whole array. The store and placeholder files are deleted afterwards.",
    ]
    shutil.rmtree(BASE, ignore_errors=True)  # 3.3 GB on a shared disk
    return {"title": "Out of core: 100k songs end to end", "ratio": None, "target": TARGET_MB,
            "met": peak <= TARGET_MB, "summary": f"peak {peak:.0f} MB for {values_gb:.1f} GB of maps, "
            f"{m.wall_s:.0f} s", "lines": lines}


if __name__ == "__main__":
    if sys.argv[1:] == ["setup"]:
        setup()
    else:
        sys.exit(f"usage: python -m benchmarks.out_of_core setup (the benchmark itself: {Path(__file__).name} via "
                 "benchmarks.run_all)")
