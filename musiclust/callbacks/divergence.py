"""Fail a run whose training loss diverges, at once and with the fix, instead of clustering a broken model."""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch

from musiclust.errors import ConfigError, TrainingDiverged
from musiclust.models.base import training_phase


class DivergenceGuard(pl.Callback):
    """Raise :class:`TrainingDiverged` out of ``trainer.fit`` when the training loss diverges.

    After every training step: the step's loss is NaN/inf, or it exceeds ``max_increase`` times the
    reference loss of the current training phase, the lowest epoch value of ``monitor`` in the phase so far
    (before the phase's first epoch ends: its first step's loss). Epoch values are checked the same way. A
    new phase, e.g. VaDE's joint ELBO after AE pre-training, has a new objective and so a new reference.
    Lightning's ``EarlyStopping(check_finite=True, divergence_threshold=...)`` only stops quietly, after the
    epoch, at an absolute threshold; a diverged model's clusters must not be reported, so this fails the run.
    """

    def __init__(self, monitor: str = "train/loss", max_increase: float = 1000.0) -> None:
        if not float(max_increase) > 1.0:
            raise ConfigError(f"callbacks.divergence_guard.max_increase={max_increase}: use a factor above 1 "
                              "(e.g. 1000), or disable the guard with ~callbacks.divergence_guard.")
        self.monitor, self.max_increase = monitor, float(max_increase)
        self.phase: str | None = None
        self.reference: float | None = None  # lowest epoch loss of the phase (or its first step's loss)
        self.reference_from = ""  # where the reference came from, for the message

    def _enter(self, pl_module: pl.LightningModule) -> None:
        phase = training_phase(pl_module)
        if phase != self.phase:
            self.phase, self.reference, self.reference_from = phase, None, ""

    def _check(self, value: float, where: str, what: str, pl_module: pl.LightningModule) -> None:
        if not math.isfinite(value):
            raise TrainingDiverged(f"Training diverged at {where}: {what} is {value}. {self._fix(pl_module)}")
        if self.reference is not None and self.reference > 0 and value > self.max_increase * self.reference:
            raise TrainingDiverged(
                f"Training diverged at {where}: {what} = {value:.3g} is over {self.max_increase:g}× "
                f"{self.reference:.3g}, {self.reference_from}. {self._fix(pl_module)} "
                "If such a rise is expected, raise callbacks.divergence_guard.max_increase."
            )

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if not isinstance(loss, torch.Tensor):  # closed-form models train no steps
            return
        self._enter(pl_module)
        value = float(loss.detach().float().mean())
        self._check(value, f"epoch {trainer.current_epoch}, batch {batch_idx}", "the training loss", pl_module)
        if self.reference is None:
            self.reference, self.reference_from = value, f"the first loss of the {self.phase} phase"

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        logged = trainer.callback_metrics.get(self.monitor)
        if logged is None:  # closed-form models log no loss
            return
        self._enter(pl_module)
        value, epoch = float(logged), trainer.current_epoch
        self._check(value, f"epoch {epoch}", self.monitor, pl_module)
        if self.reference is None or self.reference_from.startswith("the first loss") or value < self.reference:
            self.reference, self.reference_from = value, f"the best epoch loss (epoch {epoch})"

    @staticmethod
    def _fix(pl_module: pl.LightningModule) -> str:
        lr = getattr(pl_module, "lr", None)
        if lr is None:
            return "Lower the model's learning rate."
        return f"Lower model.lr (now {float(lr):g}), e.g. model.lr={float(lr) / 10:g}."

    def state_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "reference": self.reference, "reference_from": self.reference_from}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.phase, self.reference = state_dict.get("phase"), state_dict.get("reference")
        self.reference_from = state_dict.get("reference_from", "")
