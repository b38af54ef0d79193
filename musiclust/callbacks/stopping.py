"""Early stopping on the training objective (the negative ELBO for VAEs), judged in the model's final phase only."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping

from musiclust.models.base import FINAL_PHASE, training_phase


class EarlyStoppingAfterWarmup(EarlyStopping):
    """Lightning's :class:`EarlyStopping` on an epoch-level training metric, idle until the model's final phase.

    Before it (VaDE's AE pre-training, a KL warm-up) the loss is not the objective the model ends up
    optimising: AE pre-training has no KL and so a lower loss than any ELBO, and a warm-up raises the loss by
    design. Those epochs are not judged, and when the final phase begins the best score and the wait count
    start afresh, so the final objective always gets at least ``patience`` epochs. Models without phases
    (AE, ``kl_warmup_epochs=0``, any plain LightningModule) are judged from the first epoch.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.judging = False  # whether the previous epoch was already in the final phase

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if training_phase(pl_module) != FINAL_PHASE:
            self.judging = False
            return
        if not self.judging:
            self.best_score = torch.tensor(torch.inf if self.monitor_op == torch.lt else -torch.inf)
            self.wait_count = 0
            self.judging = True
        super().on_train_epoch_end(trainer, pl_module)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "judging": self.judging}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.judging = bool(state_dict.get("judging", False))
