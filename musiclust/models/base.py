"""The model contract: every model, baselines included, is a LightningModule with ``embed(batch) -> z``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from musiclust.instantiate import build

#: the training phase whose loss is the model's final objective (after any pre-training and KL warm-up)
FINAL_PHASE = "final"


def training_phase(module: pl.LightningModule) -> str:
    """The phase ``module`` trains in at its current epoch; modules without phases are always in the final one."""
    return getattr(module, "training_phase", FINAL_PHASE)


def _qualified_name(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def backbone_config(backbone: Any) -> dict[str, Any]:
    """A backbone as a plain config node (``_target_`` and its parameters, which backbones keep under their
    ``__init__`` names as scikit-learn estimators do), so that a checkpoint's hyperparameters can rebuild it and
    still load with ``torch.load(weights_only=True)``."""
    if isinstance(backbone, Mapping):
        return dict(backbone)
    params = [name for name in inspect.signature(type(backbone).__init__).parameters if name != "self"]
    return {"_target_": _qualified_name(type(backbone)),
            **{name: getattr(backbone, name) for name in params if hasattr(backbone, name)}}


def as_backbone(backbone: Any) -> Any:
    """The backbone object, built from its config node when given one (a model loaded from a checkpoint)."""
    return build(backbone) if isinstance(backbone, Mapping) else backbone


def optimizer_config(optimizer: Any) -> dict[str, Any] | None:
    """A partial optimizer (``torch.optim.Adam`` with ``lr``...) as a plain ``_partial_`` config node for the
    hyperparameters (the callable itself would make checkpoints fail ``torch.load(weights_only=True)``); None
    when it cannot be described by plain values."""
    if isinstance(optimizer, Mapping):
        return dict(optimizer)
    plain = (bool, int, float, str, type(None), tuple, list)
    if not isinstance(optimizer, functools.partial) or optimizer.args or not all(
            isinstance(v, plain) for v in optimizer.keywords.values()):
        return None
    return {"_target_": _qualified_name(optimizer.func), "_partial_": True, **optimizer.keywords}


def as_optimizer(optimizer: Any) -> Any:
    """The partial optimizer, built from its config node when given one (a model loaded from a checkpoint)."""
    return build(optimizer) if isinstance(optimizer, Mapping) else optimizer


class EmbeddingModel(pl.LightningModule):
    """Base class. Batches are dicts with ``x`` (inputs) and ``cond`` (one-hot conditions, maybe 0 wide).

    Models that train in phases (VaDE's AE pre-training, a KL warm-up) name the current one in
    :attr:`training_phase`; callbacks that judge the loss (early stopping, the collapse warning) wait for
    :data:`FINAL_PHASE`, since before it the loss is not the objective the model ends up optimising.
    """

    #: whether :meth:`reconstruct` returns reconstructions (VAE/AE) or None (baselines)
    reconstructs = False

    @property
    def training_phase(self) -> str:
        """Name of the phase of the current epoch, e.g. ``"pretrain"``, ``"kl_warmup"``, :data:`FINAL_PHASE`."""
        return FINAL_PHASE

    @property
    def in_final_phase(self) -> bool:
        """Whether the current epoch's loss is the model's final training objective."""
        return self.training_phase == FINAL_PHASE

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def reconstruct(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        return None

    def summary_metrics(self) -> dict[str, Any]:
        """Model-specific numbers for ``clustering_metrics.csv`` (e.g. final loss terms)."""
        return {}

    def latent_diagnostics(self, z: np.ndarray) -> dict[str, Any]:
        """Model-specific diagnostics of the final embeddings ``z`` (N, latent_dim) for ``clustering_metrics.csv``.

        None by default: a number such as "active dims" only means something for a model with a posterior.
        """
        return {}


class ClosedFormModel(EmbeddingModel):
    """A model fitted in closed form in ``setup('fit')`` that trains for zero steps.

    It goes through the same Trainer, callbacks and outputs as the neural models.
    """

    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.fit_rows(self.trainer.datamodule.features)

    def fit_rows(self, rows: Any) -> None:
        """Fit on the datamodule's normalised rows, an array-like read in batches (``rows[i:j]``, ``len(rows)``,
        ``rows.shape``) that may be larger than memory. By default all rows at once through
        :meth:`fit_closed_form`; models that can fit in a streaming pass override this."""
        self.fit_closed_form(np.asarray(rows, dtype=np.float32))

    def fit_closed_form(self, features: np.ndarray) -> None:
        raise NotImplementedError

    def on_train_start(self) -> None:
        # nothing to optimise: stop before the first epoch
        self.trainer.should_stop = True

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        return None

    def configure_optimizers(self) -> None:
        return None
