"""The VAE family and its backbones: shapes, conditioning, KL schedule, and posterior-collapse monitoring."""

import logging
from unittest.mock import PropertyMock, patch

import numpy as np
import pytest
import torch

from musiclust.errors import ConfigError
from musiclust.models import CVAE, VAE, AutoEncoder, Conv2dBackbone, MLPBackbone
from musiclust.pipeline import run_experiment

QUIET = ("~outputs.projections", "~outputs.distributions", "~callbacks.model_checkpoint",
         "~outputs.reconstructions")


def _batch(shape, n=5, n_conditions=0):
    cond = torch.eye(max(n_conditions, 1))[torch.arange(n) % max(n_conditions, 1)][:, :n_conditions]
    return {"x": torch.randn(n, *shape), "cond": cond}


@pytest.mark.parametrize("backbone, shape", [
    (MLPBackbone(hidden_dims=[32, 16]), (80,)),
    (MLPBackbone(hidden_dims=[32], flatten=True), (1, 20, 16)),
    (Conv2dBackbone(channels=[4, 8, 8], hidden_dim=16), (1, 64, 128)),
    (Conv2dBackbone(channels=[4, 8], hidden_dim=16), (1, 13, 37)),  # odd sizes are cropped back
    (Conv2dBackbone(channels=[4], hidden_dim=16), (2, 5, 9)),
])
@pytest.mark.parametrize("model_class", [VAE, AutoEncoder])
def test_reconstruction_has_the_input_shape(model_class, backbone, shape):
    model = model_class(input_shape=shape, backbone=backbone, latent_dim=3)
    batch = _batch(shape)
    assert model.embed(batch).shape == (5, 3)
    assert model.reconstruct(batch).shape == (5, *shape)


def test_backbone_errors_name_the_feature_and_the_fix():
    with pytest.raises(ConfigError) as conv:
        Conv2dBackbone().check_input((80,), source="feature=mfcc")
    assert "backbone=conv2d" in str(conv.value) and "feature=mfcc" in str(conv.value)
    assert "backbone=mlp" in str(conv.value)
    with pytest.raises(ConfigError) as mlp:
        MLPBackbone().check_input((1, 64, 128), source="feature=logmelspec")
    for piece in ("backbone=mlp", "feature=logmelspec", "(1, 64, 128)", "backbone.flatten=true"):
        assert piece in str(mlp.value)
    MLPBackbone(flatten=True).check_input((1, 64, 128))  # flattening on purpose is allowed
    with pytest.raises(ConfigError, match="feature.audio_backbone=conv2d needs"):
        Conv2dBackbone().check_input((16,), option="feature.audio_backbone=conv2d")


def test_cvae_needs_a_condition_column():
    with pytest.raises(ConfigError, match=r"model=cvae .*model\.cond_col"):
        CVAE(input_shape=(8,), backbone=MLPBackbone([8]), cond_col=None)
    with pytest.raises(ConfigError, match="no condition values"):
        CVAE(input_shape=(8,), backbone=MLPBackbone([8]), cond_col="language", n_conditions=0)


def test_cvae_conditions_encoder_and_decoder():
    torch.manual_seed(0)
    model = CVAE(input_shape=(8,), backbone=MLPBackbone([16]), cond_col="language", n_conditions=2, latent_dim=4)
    assert model.to_mu.in_features == 16 + 2 and model.to_logvar.in_features == 16 + 2
    x, z = torch.randn(3, 8), torch.randn(3, 4)
    english = {"x": x, "cond": torch.tensor([[1.0, 0.0]] * 3)}
    bangla = {"x": x, "cond": torch.tensor([[0.0, 1.0]] * 3)}
    assert not torch.allclose(model.embed(english), model.embed(bangla))
    assert not torch.allclose(model.decode(z, english), model.decode(z, bangla))


def test_autoencoder_is_deterministic_without_kl():
    model = AutoEncoder(input_shape=(8,), backbone=MLPBackbone([16]), latent_dim=4)
    assert model.to_logvar is None and model.kl_weight() == 0.0
    batch = _batch((8,))
    mu, logvar = model.encode(batch)
    assert logvar is None
    torch.testing.assert_close(model.embed(batch), mu)


@pytest.mark.parametrize("epoch, expected", [(0, 0.4), (4, 2.0), (9, 4.0), (50, 4.0)])
def test_kl_warmup_ramps_beta_linearly(epoch, expected):
    model = VAE(input_shape=(8,), backbone=MLPBackbone([8]), beta=4.0, kl_warmup_epochs=10)
    with patch.object(VAE, "current_epoch", new_callable=PropertyMock, return_value=epoch):
        assert model.kl_weight() == pytest.approx(expected)
    assert VAE(input_shape=(8,), backbone=MLPBackbone([8]), beta=4.0).kl_weight() == 4.0  # warm-up off


SHORT_TRAINING = ("trainer.max_epochs=20", "batch_size=8", "model.kl_warmup_epochs=5", *QUIET)


@pytest.mark.parametrize("feature, backbone", [("mfcc", "mlp"), ("logmelspec", "conv2d")])
def test_vae_keeps_active_latent_dims(make_cfg, feature, backbone):
    """Property: after ~100 optimiser steps with KL at full weight the posterior has not collapsed."""
    result = run_experiment(make_cfg(f"feature={feature}", f"backbone={backbone}", *SHORT_TRAINING))
    metrics = result.metrics
    assert metrics["active_dims_train"] > 0
    kl_per_dim = np.array([float(v) for v in metrics["kl_per_dim"].split(";")])
    assert kl_per_dim.shape == (16,) and kl_per_dim.max() > 0.1  # some dims carry information
    assert metrics["nmi"] > 0.2  # the embedding still separates genres


def test_collapse_is_detected_and_warned(make_cfg, caplog):
    """The negative control: an overwhelming KL weight collapses the posterior, and the run says so."""
    with caplog.at_level(logging.WARNING, logger="musiclust.models.vae"):
        result = run_experiment(make_cfg("model.beta=1000", "model.kl_warmup_epochs=0", *SHORT_TRAINING))
    assert result.metrics["active_dims_train"] == 0
    assert "Posterior collapse: 0 of 16 latent dims active" in caplog.text


def _posterior_models():
    """VAE, CVAE and VaDE (in its joint phase, where q(z|x) has a spread), each with a spread-out posterior."""
    from musiclust.models import VaDE

    vade = VaDE(input_shape=(6,), backbone=MLPBackbone([16]), n_components=3, latent_dim=4, pretrain_epochs=0)
    with torch.no_grad():
        vade.mixture_ready.fill_(True)
    return [
        VAE(input_shape=(6,), backbone=MLPBackbone([16]), latent_dim=4),
        CVAE(input_shape=(6,), backbone=MLPBackbone([16]), latent_dim=4, cond_col="language", n_conditions=2),
        vade,
    ]


@pytest.mark.parametrize("model_index", range(3), ids=["vae", "cvae", "vade"])
@pytest.mark.parametrize("training", [True, False], ids=["train_mode", "eval_mode"])
def test_embedding_is_the_posterior_mean(model_index, training):
    """``embed`` (and so every saved z) is μ(x), deterministic, never a sample from q(z|x)."""
    torch.manual_seed(0)
    model = _posterior_models()[model_index].train(training)
    batch = _batch((6,), n=8, n_conditions=model.n_conditions)
    mu, logvar = model.encode(batch)
    assert logvar is not None and logvar.exp().min() > 0.1  # a sample would be far from μ
    for z in (model.embed(batch), model.embed(batch)):
        torch.testing.assert_close(z, mu)


def test_vae_kl_matches_a_monte_carlo_estimate():
    """KL(q(z|x) || N(0, I)) per dim = E_q[log q(z|x) − log p(z)], estimated from 200k samples per song."""
    torch.manual_seed(0)
    model = VAE(input_shape=(6,), backbone=MLPBackbone([8]), latent_dim=3)
    mu = torch.tensor([[0.0, 1.5, -2.0], [0.3, -0.7, 0.1]])
    logvar = torch.log(torch.tensor([[1.0, 0.2, 3.0], [0.05, 1.5, 0.6]]))
    posterior, prior = torch.distributions.Normal(mu, (0.5 * logvar).exp()), torch.distributions.Normal(0.0, 1.0)
    z = posterior.sample((200_000,))
    samples = posterior.log_prob(z) - prior.log_prob(z)  # (samples, songs, dims)
    estimate, standard_error = samples.mean(0), samples.std(0) / samples.shape[0] ** 0.5
    per_dim, per_song = model.kl_terms(mu, logvar, mu)
    assert ((per_dim - estimate).abs() <= 4 * standard_error + 1e-6).all()  # dim 0: q = p, both exactly 0
    torch.testing.assert_close(per_song, per_dim.sum(1))


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
@pytest.mark.parametrize("name", ["vae", "beta_vae", "cvae"])
def test_training_loss_is_an_unbiased_estimate_of_the_negative_elbo(name):
    """Mean training loss over many draws = E_q[‖x − decode(z)‖²] + β·E_q[log q(z|x) − log p(z)], the negative
    β-ELBO of a Gaussian likelihood up to constants, estimated here independently with our own samples."""
    torch.manual_seed(0)
    kwargs = {"input_shape": (6,), "backbone": MLPBackbone([8]), "latent_dim": 3, "kl_warmup_epochs": 0}
    model = {"vae": lambda: VAE(**kwargs), "beta_vae": lambda: VAE(beta=4.0, **kwargs),
             "cvae": lambda: CVAE(cond_col="language", n_conditions=2, **kwargs)}[name]()
    with torch.no_grad():  # posterior variances well away from 1, where σ and σ² (a classic slip) would agree
        model.to_logvar.bias.copy_(torch.tensor([1.5, -2.0, 1.0]))
    songs = _batch((6,), n=3, n_conditions=model.n_conditions)
    batch = {key: value.repeat(50_000, 1) for key, value in songs.items()}  # every song drawn many times
    with torch.no_grad():
        loss = model.training_step(batch, 0)
        mu, logvar = model.encode(batch)
        posterior = torch.distributions.Normal(mu, (0.5 * logvar).exp())
        z = posterior.sample()
        kl_sample = (posterior.log_prob(z) - torch.distributions.Normal(0.0, 1.0).log_prob(z)).sum(1)
        samples = (model.decode(z, batch) - batch["x"]).pow(2).sum(1) + model.beta * kl_sample
    standard_error = float(samples.std()) / len(samples) ** 0.5
    assert abs(float(loss) - float(samples.mean())) < 4 * 2 ** 0.5 * standard_error


def test_latent_diagnostics_count_dims_above_the_models_threshold():
    z = np.random.default_rng(0).normal(size=(2000, 4)) * np.sqrt([0.0, 0.004, 0.03, 1.0])
    for threshold, active in ((0.01, 2), (0.5, 1), (2.0, 0)):
        model = VAE(input_shape=(8,), backbone=MLPBackbone([8]), latent_dim=4, active_threshold=threshold)
        assert model.latent_diagnostics(z) == {"active_dims": active, "active_threshold": threshold}


def test_models_without_a_posterior_report_no_active_dims():
    from musiclust.models import PCAModel, RawModel

    z = np.random.default_rng(0).normal(size=(20, 4))
    for model in (AutoEncoder(input_shape=(8,), backbone=MLPBackbone([8]), latent_dim=4),
                  PCAModel(input_shape=(8,)), RawModel(input_shape=(8,))):
        assert model.latent_diagnostics(z) == {}, type(model).__name__


def test_active_dims_use_the_configured_threshold(make_cfg, tmp_path):
    result = run_experiment(make_cfg("model.active_threshold=1e6", "trainer.max_epochs=5", *QUIET))
    metrics = result.metrics
    assert metrics["active_threshold"] == 1e6
    assert metrics["active_dims"] == metrics["active_dims_train"] == 0  # one threshold for both counts
    autoencoder = run_experiment(make_cfg("model=ae", "trainer.max_epochs=2", *QUIET, run_dir=tmp_path / "ae"))
    assert "active_dims_train" not in autoencoder.metrics and "active_threshold" not in autoencoder.metrics
