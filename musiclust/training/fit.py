"""Training and embedding, the same for every model: build the model for a datamodule, fit it with a Lightning
Trainer (its callbacks and loggers), embed every song. The run's model and hybrid's audio model go this one way."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from musiclust.features.base import FeatureSet
from musiclust.instantiate import build, build_as_is
from musiclust.training.datamodule import MusicDataModule

log = logging.getLogger(__name__)

#: Trainer settings of an inner model (hybrid's audio embedding) that a config cannot change: no files, no output
QUIET_TRAINER = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False,
                 "enable_model_summary": False}


def quiet_libraries() -> None:
    """Silence known-harmless library noise (not errors): tips, worker-count hints, torch deprecations."""
    logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.WARNING)
    logging.getLogger("pytorch_lightning.accelerators.cuda").setLevel(logging.WARNING)
    for pattern in (
        ".*does not have many workers.*", ".*LeafSpec.*", ".*configure_optimizers.*returned.*None.*",
        ".*log_every_n_steps.*", ".*GPU available but not used.*", ".*n_jobs value 1 overridden.*",
        ".*`training_step` returned `None`.*", ".*Checkpoint directory.*exists and is not empty.*",
        ".*Experiment logs directory.*exists and is not empty.*",
        ".*The dirpath has changed from.*",  # resuming (ckpt_path) into a new run dir: its own checkpoints/
    ):
        warnings.filterwarnings("ignore", message=pattern)


def make_deterministic() -> None:
    """Same config + seed → same clusters, on a GPU too. cuBLAS matmuls are deterministic only with a fixed
    workspace, which cuBLAS reads when CUDA starts: set it before anything (e.g. hybrid's audio model) uses the
    GPU. (Lightning sets it too, but only when its Trainer is built.)"""
    if torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)


def prepare(seed: int) -> None:
    """Seed every generator and make the run deterministic, once, before any model exists."""
    quiet_libraries()
    pl.seed_everything(int(seed), workers=True, verbose=False)
    make_deterministic()


def build_model(model: Any, backbone: Any, datamodule: MusicDataModule, source: str = "the feature",
                option: str | None = None) -> Any:
    """The configured model for the datamodule's rows; a backbone that cannot take them fails before training,
    naming ``source`` (e.g. ``feature=mfcc``) and ``option`` (default ``backbone=<name>``)."""
    backbone_object = build(backbone)
    if model.get("uses_backbone", True):
        backbone_object.check_input(datamodule.input_shape, source=source, option=option)
    return build(model, input_shape=datamodule.input_shape, backbone=backbone_object,
                 n_conditions=datamodule.song_conditions.shape[1])


def build_trainer(trainer: Any, callbacks: Any = None, loggers: Any = None, **fixed: Any) -> pl.Trainer:
    """A Lightning Trainer from its config node, with its callbacks and loggers built from their groups' nodes
    (one named entry each: ``logger=[csv,tensorboard]`` gives two; ``~logger.csv`` or ``logger=null`` removes)."""
    built = [build_as_is(node) for node in (callbacks or {}).values() if node is not None]
    built_loggers = [build_as_is(node) for node in (loggers or {}).values() if node is not None]
    return build_as_is(trainer, callbacks=built, **{"logger": built_loggers or False, **fixed})


def mlflow_logger(tracking_uri: str = "file:./mlruns", **kwargs: Any) -> Any:
    """Lightning's ``MLFlowLogger``. A local ``file:`` store (no server) is resolved against the working directory,
    and allowed: MLflow 3 refuses file stores unless its opt-out ``MLFLOW_ALLOW_FILE_STORE`` is set, which this sets
    when unset (a database URI, e.g. ``sqlite:///outputs/mlflow.db``, needs no opt-out)."""
    from pytorch_lightning.loggers import MLFlowLogger

    if tracking_uri.startswith("file:"):
        tracking_uri = "file:" + str(Path(tracking_uri.removeprefix("file:")).expanduser().resolve())
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MLFlowLogger(tracking_uri=tracking_uri, **kwargs)


def fit_and_embed(trainer: pl.Trainer, model: Any, datamodule: MusicDataModule,
                  ckpt_path: str | None = None) -> np.ndarray | None:
    """Train ``model`` on the datamodule's rows (resuming from the Lightning checkpoint ``ckpt_path``: weights,
    optimizer state, epoch), then embed every song (the mean of its windows' embeddings).

    With several training processes (``trainer=ddp``) each trains on its shard of the batches (Lightning's
    DistributedSampler) and only the first embeds, in one process over all songs; the others return None.
    """
    trainer.fit(model, datamodule=datamodule, ckpt_path=os.path.expanduser(ckpt_path) if ckpt_path else None)
    if trainer.global_rank != 0:
        return None
    return datamodule.embed_songs(model)


def strategy_name(trainer: pl.Trainer) -> str:
    """How the model was trained, e.g. ``single_device`` or ``ddp`` (the strategy's registered name)."""
    strategy = trainer.strategy
    return getattr(strategy, "strategy_name", None) or type(strategy).__name__.removesuffix("Strategy").lower()


class ModelEmbedding:
    """An embedding a model learns from a feature, as a building block of other features (hybrid's audio part).

    ``model``, ``backbone``, ``trainer`` and ``callbacks`` are config nodes like the run's own; training takes the
    same path (:func:`build_model`, :func:`build_trainer`, :func:`fit_and_embed`), with a private random stream so
    that what runs after it does not depend on whether the feature came from the cache.
    """

    def __init__(self, model: dict[str, Any], backbone: dict[str, Any], trainer: dict[str, Any],
                 callbacks: dict[str, Any] | None = None, batch_size: int = 64, seed: int = 0) -> None:
        self.model, self.backbone, self.trainer = model, backbone, trainer
        self.callbacks, self.batch_size, self.seed = callbacks or {}, int(batch_size), int(seed)

    def embed(self, features: FeatureSet, source: str = "the feature", option: str | None = None) -> np.ndarray:
        """One embedding per song of ``features`` (normalised by their own policy)."""
        datamodule = MusicDataModule(features, batch_size=self.batch_size, seed=self.seed)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            model = build_model(self.model, self.backbone, datamodule, source=source, option=option)
            trainer = build_trainer(self.trainer, self.callbacks, **QUIET_TRAINER)
            log.info("Training the %s embedding of %s on %d songs for at most %s epochs",
                     self.model.get("name", "model"), source, datamodule.n_songs, trainer.max_epochs)
            z = fit_and_embed(trainer, model, datamodule)
        return z.astype(np.float64)
