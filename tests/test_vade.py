"""VaDE: the mixture prior is a real GMM, its KL is the right one, and its own assignments are the clusters."""

import numpy as np
import pandas as pd
import pytest
import torch

from musiclust.errors import ConfigError
from musiclust.models import MLPBackbone, VaDE
from musiclust.pipeline import run_experiment
from tests.conftest import compose_config


def small_vade(n_components: int = 3, latent_dim: int = 2) -> VaDE:
    return VaDE(input_shape=(5,), backbone=MLPBackbone(hidden_dims=[8]), n_components=n_components,
                latent_dim=latent_dim, pretrain_epochs=0)


def test_responsibilities_match_sklearn_gaussian_mixture():
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(0)
    z = np.vstack([rng.normal(c, 0.5, (40, 2)) for c in (-3, 0, 3)])
    gmm = GaussianMixture(3, covariance_type="diag", random_state=0).fit(z)
    model = small_vade()
    with torch.no_grad():
        model.mixture_logits.copy_(torch.as_tensor(np.log(gmm.weights_)))
        model.mixture_means.copy_(torch.as_tensor(gmm.means_))
        model.mixture_logvars.copy_(torch.as_tensor(np.log(gmm.covariances_)))
        model.mixture_ready.fill_(True)
    np.testing.assert_allclose(model.predict_proba(z), gmm.predict_proba(z), atol=1e-4)
    np.testing.assert_array_equal(model.predict_clusters(z), gmm.predict(z))


def test_kl_reduces_to_gaussian_kl_for_identical_components():
    """With equal, identical components q(c|x) = π, so the cluster KL is 0 and the rest is KL(N || N_c)."""
    model = small_vade(n_components=2, latent_dim=3)
    with torch.no_grad():
        model.mixture_means.copy_(torch.tensor([[0.5, -1.0, 2.0]] * 2))
        model.mixture_logvars.copy_(torch.log(torch.tensor([[0.5, 2.0, 1.5]] * 2)))
        model.mixture_ready.fill_(True)
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3) * 0.3
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    per_dim, per_song = model.kl_terms(mu, logvar, z)
    prior = torch.distributions.Normal(model.mixture_means[0].detach(), (0.5 * model.mixture_logvars[0]).exp().detach())
    expected = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()), prior)
    torch.testing.assert_close(per_dim.detach(), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(per_song.detach(), expected.sum(1), atol=1e-5, rtol=1e-5)


def test_needs_k_components():
    with pytest.raises(ConfigError, match="at least 2 mixture components"):
        VaDE(input_shape=(5,), backbone=MLPBackbone(hidden_dims=[8]), n_components=None)


def test_no_clusters_before_the_mixture_exists():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="pretrain_epochs"):
        small_vade().predict_clusters(np.zeros((3, 2)))


def test_vade_run_uses_its_own_mixture_assignments(make_cfg, tmp_path):
    cfg = make_cfg("model=vade", "model.pretrain_epochs=1", "model.latent_dim=4", "~callbacks.projection_plotter")
    assert cfg.clusterer.name == "model"  # model=vade picks its own clusters unless told otherwise
    result = run_experiment(cfg)
    row = pd.read_csv(tmp_path / "run" / "clustering_metrics.csv").iloc[0]
    assert row["model"] == "vade" and row["clusterer"] == "model" and row["k"] == 6
    assert set(np.unique(result.clusters)) <= set(range(6))
    assert 2 <= row["n_clusters_found"] <= 6
    for key in ("nmi", "ami", "acc", "mixture_weight_min", "clusters_used_train"):
        assert np.isfinite(row[key]), key
    assert row["acc"] <= row["purity"] + 1e-9 and row["purity"] >= row["largest_class_share"]
    # the clusters are argmax p(c|z) of the saved embeddings under the trained prior
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    model = small_vade(n_components=6, latent_dim=4)
    with torch.no_grad():
        for name in ("mixture_logits", "mixture_means", "mixture_logvars", "mixture_ready"):
            getattr(model, name).copy_(checkpoint["state_dict"][name])
    np.testing.assert_array_equal(model.predict_clusters(np.load(tmp_path / "run" / "latents.npz")["z"]),
                                  result.clusters)
    assert (tmp_path / "run" / "reconstructions" / "recon_examples.png").exists()


def test_vade_with_conv2d_backbone_and_another_clusterer(make_cfg):
    result = run_experiment(make_cfg("model=vade", "backbone=conv2d", "feature=logmelspec", "feature.frames=32",
                                     "model.pretrain_epochs=1", "trainer.max_epochs=2", "clusterer=kmeans", "k=3",
                                     "~callbacks.projection_plotter", "~callbacks.distribution_plotter"))
    assert result.settings["clusterer"] == "kmeans" and result.metrics["n_clusters_found"] == 3
    assert 0 < result.metrics["mixture_weight_min"] <= 1 / 3 <= result.metrics["mixture_weight_max"] < 1


def test_mixture_is_fitted_even_when_training_ends_in_pretraining(make_cfg):
    result = run_experiment(make_cfg("model=vade", "model.pretrain_epochs=5", "trainer.max_epochs=1", "k=3",
                                     "~callbacks.projection_plotter", "~callbacks.distribution_plotter"))
    assert 1 <= result.metrics["n_clusters_found"] <= 3


@pytest.mark.parametrize("overrides, message", [
    (["model=vae", "clusterer=model"], r"the model \(VAE\) has none"),
    (["model=vade", "reducer=pca"], "cannot cluster a reduced space"),
    (["model=vade", "model.n_components=4"], "k=6 but the model has 4 mixture components"),
])
def test_model_assignment_clusterer_fails_before_training(make_cfg, overrides, message):
    with pytest.raises(ConfigError, match=message):
        run_experiment(make_cfg(*overrides, "trainer.max_epochs=50"))


def test_cli_clusterer_wins_over_the_models_choice(tmp_path):
    cfg = compose_config(["model=vade", "clusterer=gmm"], tmp_path)
    assert cfg.clusterer.name == "gmm" and cfg.model.n_components == 6
