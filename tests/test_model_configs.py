"""The model group's configs: ae/vade start from vae.yaml, and the optimizer is a partial that model.lr drives."""

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from musiclust.errors import ConfigError
from musiclust.instantiate import build
from musiclust.models import VAE, AutoEncoder, MLPBackbone
from musiclust.run import CONFIG_DIR


def model_node(*overrides: str) -> dict:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    return OmegaConf.to_container(cfg.model, resolve=True)


def build_model(*overrides: str, n_conditions: int = 0):
    """The model as the pipeline builds it from the composed config."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    return build(cfg.model, input_shape=(8,), backbone=MLPBackbone([8]), n_conditions=n_conditions)


#: the keys ae.yaml and vade.yaml held before they started from vae.yaml, with their values
BEFORE = {
    "ae": {"name": "ae", "_target_": "musiclust.models.AutoEncoder", "latent_dim": 16, "lr": 1.0e-3,
           "weight_decay": 0.0},
    "vade": {"name": "vade", "_target_": "musiclust.models.VaDE", "n_components": 6, "pretrain_epochs": 10,
             "gmm_n_init": 3, "latent_dim": 10, "beta": 1.0, "lr": 1.0e-3, "weight_decay": 0.0,
             "kl_warmup_epochs": 0, "cond_col": None, "active_threshold": 0.01, "seed": 42},
}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_inheriting_models_compose_to_their_former_values(name):
    node = model_node(f"model={name}")
    assert {key: node[key] for key in BEFORE[name]} == BEFORE[name]
    assert node["optimizer"] == {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1.0e-3, "weight_decay": 0.0}


def test_the_autoencoder_has_no_kl_weight_to_set():
    node = model_node("model=ae")
    assert (node["beta"], node["kl_warmup_epochs"]) == (0.0, 0)  # what it adds to vae.yaml's keys
    with pytest.raises(ConfigError, match=r"model=ae has no KL term, so model.beta=4 would change nothing"):
        build_model("model=ae", "model.beta=4")


@pytest.mark.parametrize("model", ["vae", "ae", "cvae", "vade"])
def test_model_lr_and_weight_decay_reach_the_configured_optimizer(model):
    built = build_model(f"model={model}", "model.lr=0.005", "model.weight_decay=0.01", "k=3",
                        n_conditions=2 if model == "cvae" else 0)
    optimizer = built.configure_optimizers()
    assert type(optimizer) is torch.optim.Adam
    assert (optimizer.param_groups[0]["lr"], optimizer.param_groups[0]["weight_decay"]) == (0.005, 0.01)
    assert built.lr == 0.005  # what the divergence guard names ("Lower model.lr (now 0.005)")
    assert sum(len(group["params"]) for group in optimizer.param_groups) == len(list(built.parameters()))


def test_another_optimizer_from_the_command_line():
    built = build_model("model=vae", "model.optimizer._target_=torch.optim.SGD", "model.lr=0.1")
    optimizer = built.configure_optimizers()
    assert type(optimizer) is torch.optim.SGD and optimizer.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize("model_class", [VAE, AutoEncoder])
def test_models_built_directly_default_to_adam(model_class):
    model = model_class(input_shape=(8,), backbone=MLPBackbone([8]), lr=0.02, weight_decay=0.5)
    optimizer = model.configure_optimizers()
    assert type(optimizer) is torch.optim.Adam
    assert (optimizer.param_groups[0]["lr"], optimizer.param_groups[0]["weight_decay"]) == (0.02, 0.5)


def test_a_checkpoint_loads_with_torch_defaults_and_keeps_the_learning_rate(tmp_path):
    """The optimizer factory stays out of the saved hyperparameters: a pickled callable there would make
    ``torch.load`` (weights_only by default) and ``load_from_checkpoint`` refuse the checkpoint."""
    import numpy as np
    import pytorch_lightning as pl

    from musiclust.features.base import FeatureSet
    from musiclust.training import MusicDataModule

    model = build_model("model=vae", "model.lr=0.004")
    values = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    data = MusicDataModule(FeatureSet(values, [f"s{i}" for i in range(12)]), batch_size=6)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")
    trainer.fit(model, datamodule=data)
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    assert torch.load(tmp_path / "last.ckpt")["hyper_parameters"]["lr"] == 0.004
    restored = VAE.load_from_checkpoint(tmp_path / "last.ckpt", backbone=MLPBackbone([8]))
    assert restored.configure_optimizers().param_groups[0]["lr"] == 0.004
    torch.testing.assert_close(torch.from_numpy(data.embed_songs(restored)), torch.from_numpy(data.embed_songs(model)))
