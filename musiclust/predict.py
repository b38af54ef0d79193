"""``musiclust-predict RUN_DIR [dataset overrides] [--out DIR]``: assign new songs to the clusters of a finished run.

What the run learned is loaded from its dir, never refitted: the feature settings, the model's class and its
hyperparameters from ``.hydra/config.yaml``; the normaliser, the model's weights, the reducer, the clusterer (or
the rule that assigns new songs to its clusters, see :mod:`musiclust.clustering.assign`) and the cluster centres
from ``learned/`` (:mod:`musiclust.outputs.learned`). The new songs are the run's dataset with the given overrides
(``dataset=manifest dataset.path=new.csv``, composed with Hydra's compose API from the package's config groups;
relative paths are relative to the current dir); their features come from the same extractor and feature cache
as the run's. The output dir (``--out``, default ``<run dir>/predictions/<time>/``) gets ``assignments.csv`` (the
columns of the run's own), ``skipped.csv`` (songs that could not be featurised) and ``prediction.json``; the
run's own files are never touched.

Loading runs no code from the run dir: weights with ``torch.load(weights_only=True)``, arrays without pickles,
estimators with skops and an explicit allow-list of types, and every ``_target_`` of the saved config is checked to
be a musiclust class of its kind (or a torch optimizer) before anything is built from it.

Refused, each with one message: a run dir that is not finished (no ``finished.json``); a run whose feature depends
on the whole collection (lyrics TF-IDF → SVD, hybrid, multimodal: the vocabulary, SVD and audio model fitted to
the run's songs are not saved); a run dir changed after it finished (checksums) or holding untrusted types.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf, open_dict

from musiclust.columns import ID, skip_frame
from musiclust.errors import ConfigError, DataError, MusiclustError, UnsafeRunError
from musiclust.io import write_csv, write_json
from musiclust.layout import ASSIGNMENTS_FILE, DONE_FILE, HYDRA_DIR, PREDICTIONS_DIR, SKIPPED_FILE, read_marker

log = logging.getLogger("musiclust.predict")

CONFIG_DIR = str(Path(__file__).resolve().parent / "conf")  # the package's config groups (as musiclust.run's)
PREDICTION_FILE = "prediction.json"
#: the keys an override may set: the songs to predict, where data and the feature cache live
OVERRIDABLE = ("dataset", "paths", "cache")
#: the packages whose classes a saved config may name in a ``_target_``
TRUSTED_TARGETS = ("musiclust.", "torch.optim.")
#: where predict computes the new songs' features, whatever the run used
LOCAL_EXECUTOR = "musiclust.features.executors.LocalExecutor"


# -- the run dir ------------------------------------------------------------------------------------------------
def check_finished(run_dir: Path) -> None:
    if not run_dir.is_dir():
        raise UnsafeRunError(f"{run_dir} is not a directory. Pass a run dir (e.g. outputs/runs/<time>).")
    if read_marker(run_dir) is None:
        raise UnsafeRunError(
            f"{run_dir} is not a finished musiclust run (no {DONE_FILE}: it crashed, was killed or is still running). "
            "Predict from a run that finished, or rerun this one."
        )


def saved_config(run_dir: Path) -> DictConfig:
    path = run_dir / HYDRA_DIR / "config.yaml"
    try:
        cfg = OmegaConf.load(path)
    except FileNotFoundError:
        raise UnsafeRunError(f"{path} is missing: the run dir is incomplete. Rerun the run.") from None
    if not isinstance(cfg, DictConfig) or any(key not in cfg for key in ("dataset", "feature", "model")):
        raise UnsafeRunError(f"{path} does not describe a musiclust run (no dataset/feature/model). Rerun the run.")
    return cfg


# -- the songs to predict -----------------------------------------------------------------------------------------
def parse_overrides(overrides: list[str]) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except OverrideParseException as err:
        raise ConfigError(f"cannot read the overrides {overrides}: {err}") from None
    for override in parsed:
        if override.key_or_group.split(".")[0] not in OVERRIDABLE:
            raise ConfigError(
                f"{override.input_line}: musiclust-predict takes overrides of the songs only ({', '.join(OVERRIDABLE)}"
                ", e.g. dataset=manifest dataset.path=new.csv); the feature, model and clusterer are what the run "
                "learned."
            )
    return parsed


def compose_prediction_config(saved: DictConfig, overrides: list[str], out_dir: Path, k: Any) -> DictConfig:
    """The run's config with the songs to predict: a new ``dataset=<option>`` composed from the package's config
    group with its ``dataset.*`` overrides, otherwise the run's own dataset with them applied."""
    parsed = parse_overrides(overrides)
    cfg = saved.copy()
    with open_dict(cfg):
        if any(o.key_or_group == "dataset" for o in parsed):
            from hydra import compose, initialize_config_dir

            dataset_overrides = [o.input_line for o in parsed if o.key_or_group.split(".")[0] == "dataset"]
            with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
                cfg.dataset = compose(config_name="config", overrides=dataset_overrides).dataset
            parsed = [o for o in parsed if o.key_or_group.split(".")[0] != "dataset"]
        for override in parsed:
            if override.is_delete():
                parent, _, leaf = override.key_or_group.rpartition(".")
                node = OmegaConf.select(cfg, parent) if parent else cfg
                if node is not None and leaf in node:
                    node.pop(leaf)
            else:
                OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True, force_add=True)
        cfg.paths.output_dir = str(out_dir)
        # the new songs' features are computed here (the features' executor interpolates this node): never on a
        # cluster the run dir names, whose client would unpickle what comes back
        cfg.executor = {"name": "local", "_target_": LOCAL_EXECUTOR}
        if isinstance(k, int):
            cfg.k = k
    return cfg


def check_targets(cfg: DictConfig) -> None:
    """Every ``_target_`` of the nodes predict builds names a musiclust class of its kind (or a torch optimizer):
    a changed config cannot make predict call anything else."""
    from hydra.utils import get_object

    from musiclust.data.manifest import Dataset
    from musiclust.features.base import FeatureExtractor
    from musiclust.features.executors import LocalExecutor
    from musiclust.models.backbones import Backbone
    from musiclust.models.base import EmbeddingModel

    kinds = {"dataset": Dataset, "feature": FeatureExtractor, "model": EmbeddingModel, "backbone": Backbone}

    def walk(node: Any, where: str) -> list[tuple[str, str]]:
        found = []
        if isinstance(node, dict):
            if isinstance(node.get("_target_"), str):
                found.append((where, node["_target_"]))
            for key, value in node.items():
                found += walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                found += walk(value, f"{where}[{i}]")
        return found

    def trusted(target: str, bases: tuple[type, ...]) -> bool:
        if not target.startswith(TRUSTED_TARGETS):
            return False  # not even imported
        try:
            obj = get_object(target)
        except Exception:  # no such class in musiclust or torch.optim
            return False
        return isinstance(obj, type) and issubclass(obj, bases)

    for group, kind in kinds.items():
        if group not in cfg:
            continue
        for where, target in walk(OmegaConf.to_container(cfg[group], resolve=True), group):
            if where == group:
                bases: tuple[type, ...] = (kind,)
            elif target.startswith("torch.optim."):
                import torch

                bases = (torch.optim.Optimizer,)
            else:  # a part of a feature (hybrid's audio/lyrics), or where it runs: here (see compose_prediction_config)
                bases = (*kinds.values(), LocalExecutor)
            if not trusted(target, bases):
                raise UnsafeRunError(
                    f"{where}._target_={target!r} in the run's .hydra/config.yaml is not a musiclust {group} class: "
                    "musiclust-predict builds nothing else. The run dir was changed after musiclust wrote it."
                )


def check_feature(cfg: DictConfig) -> None:
    from musiclust.instantiate import build

    extractor = build(cfg.feature)
    if extractor.scope == "collection":
        name = cfg.feature.get("name", type(extractor).__name__)
        raise ConfigError(
            f"feature={name}: a song's values depend on the whole collection the run was fitted to (its vocabulary, "
            "SVD or audio model), which the run does not save, so new songs cannot be placed in its space. Predict "
            "from a run with a per-song feature (mfcc, mfcc_frames, logmelspec), or cluster the new songs together "
            "with the old ones in a new run."
        )


def output_dir(run_dir: Path, out: str | None) -> Path:
    """``--out``, or a new ``<run dir>/predictions/<time>/``; never the run dir itself or one of its own folders."""
    if out is None:
        stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
        candidate, n = run_dir / PREDICTIONS_DIR / stamp, 1
        while candidate.exists():
            n += 1
            candidate = run_dir / PREDICTIONS_DIR / f"{stamp}_{n}"
        return candidate
    path = Path(out).resolve()
    inside = path == run_dir or (path.is_relative_to(run_dir)
                                 and not path.is_relative_to(run_dir / PREDICTIONS_DIR))
    if inside:
        raise ConfigError(f"--out {out} is inside the run dir {run_dir}, whose files musiclust-predict never "
                          f"touches. Choose a dir elsewhere, or leave --out out ({run_dir / PREDICTIONS_DIR}/<time>/).")
    if (path / ASSIGNMENTS_FILE).exists():
        raise ConfigError(f"{path} already holds {ASSIGNMENTS_FILE}; nothing was changed. Choose another --out.")
    return path


def conditioned(learned: Any, features: Any, manifest: pd.DataFrame) -> tuple[Any, pd.DataFrame, Any, pd.DataFrame]:
    """The songs with their one-hot conditions (a CVAE's ``cond_col``), encoded with the categories the run was
    trained on: (features, manifest, conditions or None, skipped). Songs with a value the model never saw are
    skipped, since a CVAE cannot be conditioned on it."""
    from musiclust.preprocess import one_hot

    spec = learned.meta.get("conditions")
    if not spec:
        return features, manifest, None, skip_frame([], stage="conditions")
    column, categories = spec["column"], list(spec["categories"])
    if column not in manifest.columns:
        raise DataError(f"the run's model is conditioned on {column!r} (model.cond_col), which the new songs lack "
                        f"(columns: {', '.join(manifest.columns)}). Add a {column} column to them.")
    encoded, _ = one_hot(manifest[column], categories=categories)
    known = encoded.sum(axis=1) > 0
    skipped = skip_frame([(i, f"{column}={v!r} is not among the values the run's model was conditioned on "
                              f"({', '.join(categories)})")
                          for i, v in zip(manifest.loc[~known, ID], manifest.loc[~known, column], strict=True)],
                         stage="conditions")
    return features.select(known), manifest[known].reset_index(drop=True), encoded[known], skipped


# -- predicting ------------------------------------------------------------------------------------------------------
def predict(run_dir: str | os.PathLike, overrides: list[str] | None = None, out: str | None = None) -> Path:
    """Assign the songs of the run's dataset with ``overrides`` to the run's clusters; returns the output dir."""
    from musiclust.outputs.learned import Learned

    run_dir = Path(run_dir).resolve()
    check_finished(run_dir)
    saved = saved_config(run_dir)
    learned = Learned.read(run_dir)
    out_dir = output_dir(run_dir, out)
    cfg = compose_prediction_config(saved, list(overrides or []), out_dir, learned.meta.get("k"))
    check_targets(cfg)
    check_feature(cfg)

    from musiclust.features.base import features_for
    from musiclust.instantiate import build

    dataset = build(cfg.dataset)
    manifest = dataset.load()
    features, _ = features_for(cfg.feature, manifest, cfg.paths.cache_dir, bool(cfg.get("cache", True)))
    manifest = manifest.set_index(ID).loc[list(features.ids)].reset_index()
    features, manifest, conditions, unknown = conditioned(learned, features, manifest)
    skipped = pd.concat([f for f in (dataset.skipped, features.skipped, unknown) if not f.empty] or [unknown],
                        ignore_index=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not skipped.empty:
        write_csv(skipped, out_dir / SKIPPED_FILE)
        log.warning("Skipped %d songs; see %s", len(skipped), out_dir / SKIPPED_FILE)
    if len(features.ids) == 0:
        raise DataError(f"none of the songs could be featurised (see {out_dir / SKIPPED_FILE}). Fix the items "
                        "listed there.")

    table = assign(cfg, learned, features, manifest, conditions)
    write_csv(table, out_dir / ASSIGNMENTS_FILE)
    from musiclust._version import __version__

    write_json({"run_dir": str(run_dir), "overrides": list(overrides or []), "n_songs": len(table),
                "n_skipped": len(skipped), "feature": cfg.feature.get("name"), "clusterer": learned.meta["clusterer"],
                "assignment_rule": learned.meta.get("assignment_rule"), "musiclust_version": __version__,
                "predicted_at": datetime.now().astimezone().isoformat(timespec="seconds")},
               out_dir / PREDICTION_FILE)
    return out_dir


def assign(cfg: DictConfig, learned: Any, features: Any, manifest: pd.DataFrame, conditions: Any) -> pd.DataFrame:
    """Normalise (the run's normaliser), embed (the run's model), reduce and assign the songs: their table."""
    import numpy as np

    from musiclust import training
    from musiclust.clustering.estimators import ModelClusters, bind_model
    from musiclust.clustering.reducers import reduces
    from musiclust.outputs.assignments import assignment_table, label_columns

    training.prepare(int(cfg.seed))
    datamodule = training.MusicDataModule(features, conditions=conditions, batch_size=int(cfg.batch_size),
                                          seed=int(cfg.seed), normalizer=learned.normalizer())
    model = training.build_model(cfg.model, cfg.backbone, datamodule, source=f"feature={cfg.feature.get('name')}")
    learned.load_weights(model)
    z = datamodule.embed_songs(model)
    reducer = learned.reducer()
    space = np.asarray(reducer.transform(z) if reduces(reducer) else z, dtype=np.float64)
    assigner = learned.assigner()
    if isinstance(assigner, ModelClusters):
        bind_model(assigner, model)
    clusters = np.asarray(assigner.predict(space), dtype=np.int64)
    columns = label_columns(manifest, cfg.get("label_col"), list(cfg.get("plot_columns") or []))
    return assignment_table(features.ids, clusters, space, assigner, learned.centres(), manifest, columns)


# -- the command -----------------------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(
        prog="musiclust-predict",
        description="Assign songs to the clusters of a finished musiclust run: its feature settings, normaliser, "
                    "model weights, reducer and clusterer, never refitted. Writes assignments.csv (and skipped.csv).",
        epilog="Examples:\n  musiclust-predict outputs/runs/2026-11-27_10-00-00 dataset=manifest dataset.path=new.csv\n"
               "  musiclust-predict RUN_DIR       # the run's own songs again: the same clusters",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("run_dir", help="a finished run dir (it holds finished.json)")
    command.add_argument("overrides", nargs="*",
                         help="Hydra-style overrides of the songs: dataset=<option>, dataset.<key>=<value>, "
                              "paths.<key>=<value>, cache=<bool> (default: the run's own dataset)")
    command.add_argument("--out", default=None, help="output dir (default: <run dir>/predictions/<time>/)")
    return command


def main(argv: list[str] | None = None) -> None:
    """The ``musiclust-predict`` command: one message and exit status 2 for a user error."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as musiclust's: idle OpenMP threads must not spin
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(name)s][%(levelname)s] - %(message)s")
    try:
        out_dir = predict(args.run_dir, args.overrides, args.out)
    except MusiclustError as err:
        print(f"musiclust-predict: error: {err}", file=sys.stderr)
        sys.exit(2)
    table = pd.read_csv(out_dir / ASSIGNMENTS_FILE)
    skipped = f", {SKIPPED_FILE} lists the songs left out" if (out_dir / SKIPPED_FILE).exists() else ""
    print(f"Assignments of {len(table)} songs in {out_dir / ASSIGNMENTS_FILE}{skipped}")


if __name__ == "__main__":
    main()
