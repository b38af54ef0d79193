"""Checkpoints work as in Lightning: ``Model.load_from_checkpoint(path)`` rebuilds the model alone (its backbone
and optimizer are in the hyperparameters, as plain configs that ``torch.load(weights_only=True)`` accepts), and a
top-level ``ckpt_path=...`` resumes training where a run stopped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch

from musiclust.errors import ConfigError
from musiclust.features.base import FeatureSet
from musiclust.jobs import run_and_report, run_job
from musiclust.layout import METRICS_FILE
from musiclust.models import CVAE, VAE, AutoEncoder, Conv2dBackbone, MLPBackbone, PCAModel, RawModel, VaDE
from musiclust.training import MusicDataModule

LYRICS_VAE = ["feature=lyrics_tfidf", "label_col=language", "k=2", "model=vae", "outputs.projections.methods=[]",
              "~callbacks.epoch_metrics", "~callbacks.early_stopping", "model.kl_warmup_epochs=0", "batch_size=16"]


def _data(shape: tuple[int, ...], n: int = 12, conditions: int = 0) -> MusicDataModule:
    values = np.random.default_rng(0).normal(size=(n, *shape)).astype(np.float32)
    cond = np.eye(max(conditions, 1), dtype=np.float32)[np.arange(n) % max(conditions, 1)] if conditions else None
    return MusicDataModule(FeatureSet(values, [f"s{i}" for i in range(n)]), conditions=cond, batch_size=6)


MODELS = {
    "vae": (VAE, (8,), {"backbone": MLPBackbone([8], dropout=0.0)}),
    "ae": (AutoEncoder, (8,), {"backbone": MLPBackbone([8])}),
    "cvae": (CVAE, (8,), {"backbone": MLPBackbone([8]), "cond_col": "language", "n_conditions": 2}),
    "vade": (VaDE, (8,), {"backbone": MLPBackbone([8]), "n_components": 2, "pretrain_epochs": 1}),
    "conv_vae": (VAE, (1, 8, 8), {"backbone": Conv2dBackbone(channels=[4, 8], hidden_dim=16)}),
    "pca": (PCAModel, (8,), {"latent_dim": 3}),
    "raw": (RawModel, (8,), {}),
}


@pytest.mark.parametrize("name", MODELS)
def test_load_from_checkpoint_rebuilds_the_model_without_its_backbone(name, tmp_path):
    model_class, shape, params = MODELS[name]
    data = _data(shape, conditions=params.get("n_conditions", 0))
    model = model_class(input_shape=shape, **params)
    trainer = pl.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")
    trainer.fit(model, datamodule=data)
    trainer.save_checkpoint(tmp_path / "last.ckpt")

    torch.load(tmp_path / "last.ckpt")  # torch's default: weights_only=True
    restored = model_class.load_from_checkpoint(tmp_path / "last.ckpt")
    assert type(restored) is model_class
    torch.testing.assert_close(torch.from_numpy(data.embed_songs(restored)), torch.from_numpy(data.embed_songs(model)))


def test_the_checkpoint_keeps_the_optimizer_it_was_trained_with(tmp_path):
    """``model.optimizer._target_=torch.optim.AdamW`` comes back as AdamW with its settings, not as default Adam."""
    import functools

    model = VAE(input_shape=(8,), backbone=MLPBackbone([8]),
                optimizer=functools.partial(torch.optim.AdamW, lr=0.003, weight_decay=0.1))
    pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, accelerator="cpu").fit(model, datamodule=_data((8,)))
    model.trainer.save_checkpoint(tmp_path / "last.ckpt")
    optimizer = VAE.load_from_checkpoint(tmp_path / "last.ckpt").configure_optimizers()
    assert type(optimizer) is torch.optim.AdamW
    assert (optimizer.param_groups[0]["lr"], optimizer.param_groups[0]["weight_decay"]) == (0.003, 0.1)


def _adam_steps(checkpoint_path) -> int:
    state = torch.load(checkpoint_path)["optimizer_states"][0]["state"]
    return int(next(iter(state.values()))["step"])


def test_ckpt_path_resumes_training_with_its_optimizer_state(make_cfg, tmp_path):
    first, resumed = tmp_path / "first", tmp_path / "resumed"
    run_and_report(make_cfg(*LYRICS_VAE, "trainer.max_epochs=2", run_dir=first))
    checkpoint = first / "checkpoints" / "last.ckpt"
    steps_per_epoch = _adam_steps(checkpoint) // 2
    assert steps_per_epoch >= 2

    run_and_report(make_cfg(*LYRICS_VAE, "trainer.max_epochs=4", f"ckpt_path={checkpoint}", run_dir=resumed))
    assert pd.read_csv(resumed / METRICS_FILE)["epochs_trained"].tolist() == [4]
    # two more epochs, from the first run's Adam moments and step count (a fresh optimizer would count 2 epochs)
    assert _adam_steps(resumed / "checkpoints" / "last.ckpt") == 4 * steps_per_epoch
    logged = pd.read_csv(resumed / "logs" / "metrics.csv")
    assert sorted(logged["epoch"].dropna().astype(int).unique()) == [2, 3]  # it trained epochs 2 and 3 only
    assert checkpoint.is_file()  # the run it resumed from is untouched


def test_a_ckpt_path_inside_the_run_dir_is_refused_before_it_is_cleared(make_cfg, tmp_path):
    run_dir = tmp_path / "run"
    run_and_report(make_cfg(*LYRICS_VAE, "trainer.max_epochs=1", run_dir=run_dir))
    (run_dir / "finished.json").unlink()  # killed before it finished: the dir would be cleared on a rerun
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    before = checkpoint.read_bytes()
    with pytest.raises(ConfigError, match=r"ckpt_path=.*lies in this run's dir.*Copy it out first"):
        run_job(make_cfg(*LYRICS_VAE, "trainer.max_epochs=2", f"ckpt_path={checkpoint}", run_dir=run_dir))
    assert checkpoint.read_bytes() == before and (run_dir / METRICS_FILE).is_file()


def test_a_missing_checkpoint_is_named_before_any_work(make_cfg, tmp_path):
    with pytest.raises(ConfigError, match=r"ckpt_path=.*nope.ckpt.*an existing checkpoint file"):
        run_job(make_cfg(*LYRICS_VAE, f"ckpt_path={tmp_path / 'nope.ckpt'}", run_dir=tmp_path / "run"))
    assert not (tmp_path / "run").exists()
