"""A diverging loss fails the run at once with a message naming the epoch, the losses and the fix."""

import logging
import re
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader

from musiclust.errors import TrainingDiverged
from musiclust.jobs import run_and_report
from musiclust.layout import METRICS_FILE
from musiclust.models import EmbeddingModel
from musiclust.pipeline import run_experiment
from tests.conftest import compose_config
from tests.test_models import QUIET


class ScriptedStepLoss(EmbeddingModel):
    """Two steps per epoch; step ``i`` has loss ``losses[i]`` (epoch loss: their mean); counts the steps run."""

    def __init__(self, losses: list[float], final_from: int = 0) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.losses, self.final_from, self.steps_run = list(losses), final_from, 0
        self.lr = 0.5

    @property
    def training_phase(self) -> str:
        return "final" if self.current_epoch >= self.final_from else "pretrain"

    def training_step(self, batch, batch_idx):
        loss = self.weight.sum() * 0.0 + self.losses[self.steps_run]
        self.steps_run += 1
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=1)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def train_dataloader(self):
        return DataLoader(torch.zeros(2, 1), batch_size=1)


def fit_with_default_guard(model: ScriptedStepLoss, tmp_path) -> pl.Trainer:
    """Train with the guard exactly as ``conf/callbacks/default.yaml`` configures it."""
    guard = instantiate(compose_config([], tmp_path).callbacks.divergence_guard)
    trainer = pl.Trainer(max_epochs=len(model.losses) // 2, callbacks=[guard], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model)
    return trainer


def test_nan_loss_stops_training_at_that_step(tmp_path):
    model = ScriptedStepLoss([5.0, 4.0, 3.0, float("nan"), 2.0, 1.0, 1.0, 1.0])
    with pytest.raises(TrainingDiverged) as err:
        fit_with_default_guard(model, tmp_path)
    assert model.steps_run == 4  # not one step more
    message = str(err.value)
    assert "at epoch 1, batch 1: the training loss is nan." in message and "Lower model.lr (now 0.5)" in message


@pytest.mark.parametrize("losses, steps, message", [
    ([5.0, 5.0, 4.0, 4.0, 4e4, 4e4, 1.0, 1.0], 5,
     r"at epoch 2, batch 0: the training loss = 4e\+04 is over 1000× 4, the best epoch loss \(epoch 1\)\."),
    ([80.0, 1e28, 1.0, 1.0], 2,  # within the first epoch, before any epoch loss exists
     r"at epoch 0, batch 1: the training loss = 1e\+28 is over 1000× 80, the first loss of the final phase\."),
])
def test_an_exploding_loss_stops_training_at_that_step(tmp_path, losses, steps, message):
    model = ScriptedStepLoss(losses)
    with pytest.raises(TrainingDiverged, match=message):
        fit_with_default_guard(model, tmp_path)
    assert model.steps_run == steps


def test_a_new_phase_starts_a_new_best(tmp_path):
    """A pre-training loss near 0 is no yardstick for the next objective (AE pre-training → VaDE's ELBO)."""
    model = ScriptedStepLoss([1e-3, 1e-3, 5.0, 5.0, 4.0, 4.0], final_from=1)
    fit_with_default_guard(model, tmp_path)
    assert model.steps_run == 6


@pytest.mark.parametrize("batch_size", [64, 8])  # one step per epoch, or five
def test_exploding_vae_fails_within_a_few_epochs(make_cfg, batch_size):
    """lr=10 takes the loss from ~80 to ~1e28 in one step; it used to train all epochs and report clusters."""
    with pytest.raises(TrainingDiverged) as err:
        run_experiment(make_cfg("model.lr=10", "trainer.max_epochs=20", f"batch_size={batch_size}", *QUIET))
    message = str(err.value)
    assert int(re.search(r"at epoch (\d+)", message).group(1)) < 5
    assert "Lower model.lr (now 10)" in message


def test_nan_vae_fails_at_once_and_the_run_exits_with_the_message(make_cfg, caplog):
    cfg = make_cfg("model.lr=1e30", "trainer.max_epochs=20", *QUIET)
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as exit_info:
        run_and_report(cfg)
    assert exit_info.value.code == 2
    assert re.search(r"musiclust: error: Training diverged at epoch 1, batch 0: the training loss is (nan|inf)\.",
                     caplog.text)
    assert "Lower model.lr (now 1e+30)" in caplog.text
    assert not (Path(cfg.paths.output_dir) / METRICS_FILE).exists()  # no result of a diverged model
