"""Early stopping on the training objective (the negative ELBO for VAEs), once KL warm-up is over."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import EarlyStopping


class EarlyStoppingAfterWarmup(EarlyStopping):
    """Lightning's :class:`EarlyStopping` on an epoch-level training metric, idle during KL warm-up.

    While a model's ``kl_warmup_epochs`` ramp the KL weight up, its loss is not yet the (β-)ELBO and may
    rise by design; judging it then would stop training, or set the best value, for the wrong reason.
    Models without warm-up (AE, or ``kl_warmup_epochs=0``) are judged from the first epoch.
    """

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch + 1 < int(getattr(pl_module, "kl_warmup_epochs", 0) or 0):
            return
        super().on_train_epoch_end(trainer, pl_module)
