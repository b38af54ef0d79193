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

    Two checks: the loss of any training step is NaN/inf (checked after that step), or an epoch's
    ``monitor`` value exceeds ``max_increase`` times the best epoch value of the current training phase (a new
    phase, e.g. VaDE's joint ELBO after AE pre-training, has a new objective and so starts a new best).
    Lightning's ``EarlyStopping(check_finite=True, divergence_threshold=...)`` only stops quietly, after the
    epoch, at an absolute threshold; a diverged model's clusters must not be reported, so this fails the run.
    """

    def __init__(self, monitor: str = "train/loss", max_increase: float = 1000.0) -> None:
        if not float(max_increase) > 1.0:
            raise ConfigError(f"callbacks.divergence_guard.max_increase={max_increase}: use a factor above 1 "
                              "(e.g. 1000), or disable the guard with ~callbacks.divergence_guard.")
        self.monitor, self.max_increase = monitor, float(max_increase)
        self.best: float | None = None
        self.best_epoch = 0
        self.phase: str | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if not isinstance(loss, torch.Tensor) or bool(torch.isfinite(loss).all()):
            return
        value = float(loss.detach().float().mean())
        raise TrainingDiverged(
            f"Training diverged at epoch {trainer.current_epoch}, batch {batch_idx}: the training loss is {value}. "
            f"{self._fix(pl_module)}"
        )

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        logged = trainer.callback_metrics.get(self.monitor)
        if logged is None:  # closed-form models log no loss
            return
        value, epoch = float(logged), trainer.current_epoch
        phase = training_phase(pl_module)
        if phase != self.phase:
            self.phase, self.best = phase, None
        if not math.isfinite(value):
            raise TrainingDiverged(f"Training diverged at epoch {epoch}: {self.monitor} = {value}. "
                                   f"{self._fix(pl_module)}")
        if self.best is not None and self.best > 0 and value > self.max_increase * self.best:
            raise TrainingDiverged(
                f"Training diverged at epoch {epoch}: {self.monitor} = {value:.3g} is over {self.max_increase:g}× "
                f"the best epoch loss {self.best:.3g} (epoch {self.best_epoch}). {self._fix(pl_module)} "
                "If such a rise is expected, raise callbacks.divergence_guard.max_increase."
            )
        if self.best is None or value < self.best:
            self.best, self.best_epoch = value, epoch

    @staticmethod
    def _fix(pl_module: pl.LightningModule) -> str:
        lr = getattr(pl_module, "lr", None)
        if lr is None:
            return "Lower the model's learning rate."
        return f"Lower model.lr (now {float(lr):g}), e.g. model.lr={float(lr) / 10:g}."

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "phase": self.phase}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best, self.best_epoch = state_dict.get("best"), int(state_dict.get("best_epoch", 0))
        self.phase = state_dict.get("phase")
