"""One path for every experiment: data → features → model → embeddings → clusters → metrics → outputs.

Each stage lives in its own room (``data/``, ``features/``, ``training/``, ``clustering/``, ``outputs/``); this
module only puts them in order. The heavy libraries (scikit-learn, torch, Lightning) are imported once the settings
and the dataset have been checked, so a mistake in either answers in about a second.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, open_dict

from musiclust.config import is_debug_run, settings_of, validate
from musiclust.data.language import lyrics_derived
from musiclust.data.songs import load_songs, report_skips
from musiclust.features.base import features_for
from musiclust.layout import is_rank_zero
from musiclust.outputs import RunResult, build_outputs, write_outputs


def run_experiment(cfg: DictConfig) -> RunResult | None:
    """Run one configured experiment end to end and return its result (also written to the run dir).

    In the extra training processes of a multi-process strategy (``trainer=ddp``) it stops after training and
    returns None: the process the user started embeds, clusters and writes."""
    validate(cfg)  # every invalid value, before any work
    start = time.perf_counter()
    run_dir = Path(cfg.paths.output_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    songs = load_songs(cfg)
    cfg = with_k(cfg, songs.k)  # k=auto → the number of label values
    from musiclust.clustering.metrics import evaluate  # scikit-learn from here on
    from musiclust.clustering.plan import ClusteringPlan

    clustering = ClusteringPlan.from_config(cfg, len(songs.manifest))

    features, feature_counts = features_for(cfg.feature, songs.manifest, cfg.paths.cache_dir, bool(cfg.cache),
                                            key_method=str(cfg.get("cache_key") or "stat"))
    skipped = pd.concat([f for f in (songs.skipped, features.skipped) if not f.empty] or [features.skipped],
                        ignore_index=True)
    if is_rank_zero():
        report_skips(skipped, songs.n_listed, run_dir, float(cfg.max_skip_fraction), clustering.k)
    songs = songs.aligned(features.ids)
    clustering = clustering.for_songs(len(features.ids), cfg.get("large_n"), seed=int(cfg.seed))
    feature_seconds = time.perf_counter() - start

    from musiclust import training  # torch and Lightning from here on

    training.prepare(int(cfg.seed))
    datamodule = training.MusicDataModule(
        features, normalization=cfg.normalization, conditions=songs.conditions(cfg.model.get("cond_col")),
        labels=songs.label_values(), batch_size=cfg.batch_size, num_workers=cfg.num_workers, seed=int(cfg.seed))
    model = training.build_model(cfg.model, cfg.backbone, datamodule, source=f"feature={cfg.feature.get('name')}")
    clustering.bind(model)
    trainer = training.build_trainer(cfg.trainer, cfg.callbacks, cfg.get("logger"))
    z = training.fit_and_embed(trainer, model, datamodule, ckpt_path=cfg.get("ckpt_path"))
    if z is None:  # another training process of this run (DDP)
        return None

    clusters, z_reduced = clustering.fit_predict(z)
    metrics = {
        **evaluate(z, clusters, labels_true=songs.labels(), silhouette_sample_size=cfg.silhouette_sample_size,
                   seed=int(cfg.seed), z_reduced=z_reduced, k_requested=clustering.k),
        **model.summary_metrics(), **model.latent_diagnostics(z), **clustering.used_params(),
        "clusterer_class": type(clustering.clusterer).__name__, "epochs_trained": int(trainer.current_epoch),
        "strategy": training.strategy_name(trainer), "world_size": int(trainer.world_size),
        "n_skipped": len(skipped), **feature_counts.metrics(),
        "feature_seconds": round(feature_seconds, 3), "total_seconds": round(time.perf_counter() - start, 3),
    }
    result = RunResult(
        run_dir=run_dir, settings=settings_of(cfg, k=clustering.k, normalization=datamodule.normalizer.describe(),
                                              label_from_lyrics=lyrics_derived(songs.manifest, [
                                                  songs.label_col, cfg.model.get("cond_col")])),
        ids=features.ids, z=z, clusters=clusters, manifest=songs.manifest, metrics=metrics, datamodule=datamodule,
        model=model, loggers=list(trainer.loggers), step=int(trainer.global_step),
        plot_columns=list(cfg.get("plot_columns") or []), debug=is_debug_run(cfg),
        clustering=clustering, z_reduced=z_reduced)
    write_outputs(result, build_outputs(cfg.get("outputs")))
    return result


def with_k(cfg: DictConfig, k: Any) -> DictConfig:
    """A copy of ``cfg`` whose ``k`` (and every ``${k}`` in it, e.g. the clusterer's) is the resolved value."""
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.k = k
    return cfg
