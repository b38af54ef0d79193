"""Training phases: early stopping and the collapse warning judge only the phase whose objective is final."""

import logging
import re
from unittest.mock import PropertyMock, patch

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from musiclust.callbacks.stopping import EarlyStoppingAfterWarmup
from musiclust.models import VAE, AutoEncoder, EmbeddingModel, MLPBackbone, VaDE
from musiclust.pipeline import run_experiment
from tests.test_models import QUIET


class ScriptedLoss(EmbeddingModel):
    """A model whose epoch loss follows a script and whose final objective starts at epoch ``final_from``."""

    def __init__(self, losses: list[float], final_from: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.losses, self.final_from = list(losses), final_from

    @property
    def training_phase(self) -> str:
        return "final" if self.current_epoch >= self.final_from else "pretrain"

    def training_step(self, batch, batch_idx):
        loss = self.weight.sum() * 0.0 + self.losses[self.current_epoch]
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=1)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return DataLoader(torch.zeros(2, 1), batch_size=1)


def epochs_trained(model: ScriptedLoss, patience: int) -> int:
    stopper = EarlyStoppingAfterWarmup(monitor="train/loss", mode="min", patience=patience, min_delta=0.01,
                                       check_on_train_epoch_end=True)
    trainer = pl.Trainer(max_epochs=len(model.losses), callbacks=[stopper], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model)
    return trainer.current_epoch


PRETRAINING = [0.1, 1.0, 1.0, 1.0, 1.0]  # a low loss early in pre-training that the final objective never reaches


def test_a_final_loss_that_keeps_falling_trains_to_max_epochs():
    """The loss jumps up when the final phase begins and then falls every epoch: nothing to stop for."""
    model = ScriptedLoss(PRETRAINING + [50.0 - epoch for epoch in range(15)], final_from=len(PRETRAINING))
    assert epochs_trained(model, patience=3) == 20


def test_a_plateau_in_the_final_phase_stops_after_patience_epochs():
    """The first final-phase epoch sets the best, then ``patience`` epochs without improvement stop training."""
    model = ScriptedLoss(PRETRAINING + [5.0] * 15, final_from=len(PRETRAINING))
    assert epochs_trained(model, patience=3) == len(PRETRAINING) + 1 + 3


@pytest.mark.parametrize("epoch, phase", [(0, "kl_warmup"), (8, "kl_warmup"), (9, "final"), (30, "final")])
def test_vae_objective_is_final_once_the_kl_weight_is_full(epoch, phase):
    model = VAE(input_shape=(8,), backbone=MLPBackbone([8]), beta=4.0, kl_warmup_epochs=10)
    with patch.object(VAE, "current_epoch", new_callable=PropertyMock, return_value=epoch):
        assert model.training_phase == phase
        assert model.in_final_phase == (model.kl_weight() == 4.0)
    no_warmup = VAE(input_shape=(8,), backbone=MLPBackbone([8]), kl_warmup_epochs=0)
    autoencoder = AutoEncoder(input_shape=(8,), backbone=MLPBackbone([8]), kl_warmup_epochs=10)  # no KL to warm up
    with patch.object(VAE, "current_epoch", new_callable=PropertyMock, return_value=0):
        assert no_warmup.in_final_phase and autoencoder.in_final_phase


@pytest.mark.parametrize("epoch, phase, weight", [
    (0, "pretrain", None), (9, "pretrain", None),
    (10, "kl_warmup", 0.4), (13, "kl_warmup", 1.6),  # the warm-up counts from the first joint epoch, not epoch 0
    (14, "final", 2.0), (40, "final", 2.0),
])
def test_vade_phases_pretraining_then_warmup_then_the_joint_elbo(epoch, phase, weight):
    model = VaDE(input_shape=(5,), backbone=MLPBackbone([8]), n_components=3, latent_dim=2, pretrain_epochs=10,
                 kl_warmup_epochs=5, beta=2.0)
    with patch.object(VAE, "current_epoch", new_callable=PropertyMock, return_value=epoch):
        assert model.training_phase == phase
        if weight is not None:
            assert model.kl_weight() == pytest.approx(weight)


@pytest.mark.parametrize("seed", [42, 1, 2])
def test_vade_trains_at_least_patience_epochs_of_the_joint_elbo(make_cfg, seed):
    """AE pre-training's loss (no KL) is below any ELBO; it used to be the best and stop VaDE at epoch 20."""
    cfg = make_cfg("model=vade", f"seed={seed}", "trainer.max_epochs=40", *QUIET)
    result = run_experiment(cfg)
    pretrain, patience = cfg.model.pretrain_epochs, cfg.callbacks.early_stopping.patience
    assert result.metrics["epochs_trained"] >= min(cfg.trainer.max_epochs, pretrain + patience + 1)


def _collapse_epochs(text: str) -> list[int]:
    return [int(epoch) for epoch in re.findall(r"Posterior collapse: .* at epoch (\d+)", text)]


def test_collapse_warning_starts_when_the_kl_weight_is_full(make_cfg, caplog):
    with caplog.at_level(logging.WARNING, logger="musiclust.models.vae"):
        result = run_experiment(make_cfg("model.beta=1000", "model.kl_warmup_epochs=5", "trainer.max_epochs=8",
                                         "batch_size=8", *QUIET))
    assert result.metrics["active_dims_train"] == 0
    epochs = _collapse_epochs(caplog.text)
    assert epochs and min(epochs) == 4  # epoch 4 is the first with the full KL weight


def test_no_collapse_warning_during_kl_warmup_or_pretraining(make_cfg, caplog, tmp_path):
    with caplog.at_level(logging.WARNING, logger="musiclust.models.vae"):
        warming_up = run_experiment(make_cfg("model.beta=1000", "model.kl_warmup_epochs=10", "trainer.max_epochs=5",
                                             "batch_size=8", *QUIET))
        run_experiment(make_cfg("model=vade", "model.pretrain_epochs=3", "trainer.max_epochs=3", *QUIET,
                                run_dir=tmp_path / "vade"))
    assert warming_up.metrics["active_dims_train"] == 0  # collapsed, but the objective is not the ELBO yet
    assert _collapse_epochs(caplog.text) == []
