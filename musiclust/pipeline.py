"""One path for every experiment: data → features → model → embeddings → clusters → metrics → outputs."""

from __future__ import annotations

import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from musiclust.callbacks.base import ResultCallback, RunResult
from musiclust.clustering import check_k, fit_predict, requested_clusters
from musiclust.clustering.estimators import bind_model
from musiclust.clustering.large_n import scalable_clusterer
from musiclust.clustering.metrics import evaluate
from musiclust.clustering.reducers import NoReducer, reduces
from musiclust.columns import ID
from musiclust.config import settings_of, validate, validate_for_songs
from musiclust.data.datamodule import ArrayDataModule
from musiclust.data.manifest import dataset_fingerprint
from musiclust.errors import ConfigError, DataError
from musiclust.features.base import FeatureCache, FeatureSet, load_or_compute
from musiclust.features.normalize import Normalizer
from musiclust.features.normalize import resolve as resolve_normalization
from musiclust.instantiate import build
from musiclust.io import write_csv
from musiclust.layout import SKIPPED_FILE
from musiclust.preprocess import one_hot

log = logging.getLogger(__name__)



def quiet_libraries() -> None:
    """Silence known-harmless library noise (not errors): tips, worker-count hints, torch deprecations."""
    logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.WARNING)
    logging.getLogger("pytorch_lightning.accelerators.cuda").setLevel(logging.WARNING)
    for pattern in (
        ".*does not have many workers.*", ".*LeafSpec.*", ".*configure_optimizers.*returned.*None.*",
        ".*log_every_n_steps.*", ".*GPU available but not used.*", ".*n_jobs value 1 overridden.*",
        ".*`training_step` returned `None`.*", ".*Checkpoint directory.*exists and is not empty.*",
        ".*Experiment logs directory.*exists and is not empty.*",
    ):
        warnings.filterwarnings("ignore", message=pattern)


def make_deterministic() -> None:
    """Same config + seed → same clusters, on a GPU too. cuBLAS matmuls are deterministic only with a fixed
    workspace, which cuBLAS reads when CUDA starts: set it before anything (e.g. hybrid's audio model) uses the
    GPU. (Lightning sets it too, but only when its Trainer is built.)"""
    if torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)


def resolve_k(k: Any, manifest: pd.DataFrame, label_col: str | None) -> int | None:
    """``k=auto`` means the number of distinct values of ``label_col``."""
    if k is None or str(k) != "auto":
        return None if k is None else int(k)
    if not label_col:
        raise ConfigError("k=auto needs a label_col to count classes. Set k=<number> or label_col=<column>.")
    return int(manifest[label_col].nunique())


def check_label_col(manifest: pd.DataFrame, label_col: str | None, key: str = "label_col",
                    fix: str = "or label_col=null for unsupervised metrics only") -> None:
    if label_col and label_col not in manifest.columns:
        raise DataError(
            f"{key}={label_col!r} is not a column of the dataset (columns: {', '.join(manifest.columns)}). "
            f"Set {key}=<one of those> {fix}."
        )


def align(manifest: pd.DataFrame, features: FeatureSet) -> pd.DataFrame:
    """Manifest rows in feature order (features may have skipped items)."""
    return manifest.set_index(ID).loc[features.ids].reset_index()


def handle_skips(
    skipped: pd.DataFrame, n_total: int, run_dir: Path, max_skip_fraction: float, k: int | None
) -> None:
    """Write ``skipped.csv`` and stop only when too much is missing to trust the results."""
    if skipped.empty:
        return
    write_csv(skipped, run_dir / SKIPPED_FILE)
    reasons = skipped["reason"].str.split(":").str[0].value_counts()
    summary = ", ".join(f"{n}× {r}" for r, n in reasons.items())
    log.warning("Skipped %d of %d songs (%s); see %s", len(skipped), n_total, summary, run_dir / SKIPPED_FILE)
    fraction = len(skipped) / max(1, n_total)
    if fraction > max_skip_fraction:
        raise DataError(
            f"{len(skipped)} of {n_total} songs ({fraction:.0%}) could not be used (first: "
            f"{skipped.iloc[0]['id']}: {skipped.iloc[0]['reason']}); limit is max_skip_fraction="
            f"{max_skip_fraction}. Fix the items listed in {run_dir / SKIPPED_FILE} or raise max_skip_fraction."
        )
    remaining = n_total - len(skipped)
    if k is not None and remaining < k:
        raise DataError(f"only {remaining} songs remain after skipping, fewer than k={k}. Lower k.")


def run_experiment(cfg: DictConfig) -> RunResult:
    """Run one configured experiment end to end and return its result (also written to the run dir)."""
    validate(cfg)  # every invalid value, before any work
    quiet_libraries()
    start = time.perf_counter()
    run_dir = Path(cfg.paths.output_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    make_deterministic()

    dataset = build(cfg.dataset)
    manifest = dataset.load()
    validate_for_songs(cfg, len(manifest))
    n_items = len(manifest) + len(dataset.skipped)  # skip limits count rows the dataset already left out
    label_col = cfg.get("label_col") or None
    check_label_col(manifest, label_col)
    cond_col = cfg.model.get("cond_col")
    check_label_col(manifest, cond_col, key="model.cond_col", fix="(the column whose one-hot conditions the model)")
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.k = resolve_k(cfg.get("k"), manifest, label_col)
    clusterer = build(cfg.clusterer)
    reducer = build(cfg.reducer) if cfg.get("reducer") else NoReducer()
    k = requested_clusters(clusterer)
    clusterer_name = cfg.clusterer.get("name", "?")
    check_k(k, len(manifest), clusterer_name)

    extractor = build(cfg.feature)
    cache = FeatureCache(cfg.paths.cache_dir, enabled=bool(cfg.get("cache", True)))
    features, from_cache = load_or_compute(extractor, manifest, dataset_fingerprint(manifest), cache)
    features = features.drop_nonfinite()  # one damaged song is skipped (skipped.csv), not fatal
    feature_seconds = time.perf_counter() - start
    skipped = pd.concat([f for f in (dataset.skipped, features.skipped) if not f.empty] or [features.skipped],
                        ignore_index=True)
    handle_skips(skipped, n_items, run_dir, float(cfg.max_skip_fraction), k)
    manifest = align(manifest, features)
    check_k(k, len(manifest), clusterer_name)
    large_n = OmegaConf.to_container(cfg.large_n, resolve=True) if cfg.get("large_n") else {}
    clusterer = scalable_clusterer(clusterer, len(manifest), seed=int(cfg.seed), **large_n)
    normalizer = Normalizer(resolve_normalization(features.normalization, cfg.get("normalization")))
    x = normalizer.fit_transform(features.values)
    conditions = None
    if cond_col:
        conditions, categories = one_hot(manifest[cond_col])
        log.info("Conditioning on %s (%d values: %s)", cond_col, len(categories), ", ".join(categories))
    labels = manifest[label_col] if label_col else None
    datamodule = ArrayDataModule(x, conditions, batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                                 seed=int(cfg.seed), labels=None if labels is None else labels.to_numpy(),
                                 offsets=features.offsets)
    backbone = build(cfg.backbone)
    if cfg.model.get("uses_backbone", True):  # fail before training when feature and backbone do not fit
        backbone.check_input(tuple(x.shape[1:]), source=f"feature={cfg.feature.get('name', '?')}")
    model = build(cfg.model, input_shape=tuple(x.shape[1:]), backbone=backbone,
                  n_conditions=0 if conditions is None else conditions.shape[1])
    bind_model(clusterer, model, reduced=reduces(reducer))

    callbacks = [instantiate(node) for node in cfg.callbacks.values() if node is not None]
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=logger)
    trainer.fit(model, datamodule=datamodule)
    z = datamodule.embed_songs(model)  # whole songs: the mean embedding of their windows

    z_clustered = reducer.fit_transform(z) if reduces(reducer) else None
    clusters = fit_predict(clusterer, z if z_clustered is None else z_clustered)
    metrics = evaluate(
        z, clusters, labels_true=labels, silhouette_sample_size=cfg.get("silhouette_sample_size"),
        seed=int(cfg.seed), z_reduced=z_clustered, k_requested=k,
    )
    metrics.update(model.summary_metrics())
    metrics.update(model.latent_diagnostics(z))
    metrics["clusterer_class"] = type(clusterer).__name__
    metrics.update({**getattr(reducer, "used_params_", {}), **getattr(clusterer, "used_params_", {})})
    metrics["epochs_trained"] = int(trainer.current_epoch)
    metrics["n_skipped"] = int(len(skipped))
    metrics["features_from_cache"] = bool(from_cache)
    metrics["feature_seconds"] = round(feature_seconds, 3)
    metrics["total_seconds"] = round(time.perf_counter() - start, 3)

    result = RunResult(
        run_dir=run_dir, settings=settings_of(cfg, k=k, normalization=normalizer.describe()),
        ids=features.ids, z=z, clusters=clusters, manifest=manifest, metrics=metrics,
        mean=normalizer.mean_, std=normalizer.scale_, datamodule=datamodule,
    )
    result.extra["plot_columns"] = list(cfg.get("plot_columns") or [])
    for callback in trainer.callbacks:
        if isinstance(callback, ResultCallback):
            callback.on_result(trainer, model, result)
    return result
