"""VaDE (Jiang et al., 2017): a VAE with a Gaussian-mixture prior whose mixture assignments are clusters."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from torch import nn

from musiclust.errors import ConfigError
from musiclust.models.backbones import Backbone
from musiclust.models.vae import VAE

log = logging.getLogger(__name__)

LOG_2PI = math.log(2.0 * math.pi)


class MixtureNotReady(NotFittedError):
    """Raised when cluster assignments are asked for before the mixture prior has been initialised."""


class VaDE(VAE):
    """Variational Deep Embedding: prior p(z) = Σ_c π_c N(μ_c, diag σ²_c), posterior q(z|x) from the backbone.

    Training follows the paper: ``pretrain_epochs`` epochs as a deterministic autoencoder (phase
    ``"pretrain"``); then a diagonal scikit-learn ``GaussianMixture`` fitted on the AE embeddings initialises
    π, μ_c and σ²_c; from then on the joint ELBO is optimised (reconstruction + KL(q(z|x) q(c|x) || p(z|c) p(c)),
    with the responsibilities γ = q(c|x) ≈ p(c|z)) and π, μ_c, σ²_c are learned with the networks. A KL
    warm-up (``kl_warmup_epochs``) counts from the first joint epoch. The embedding is the posterior mean;
    :meth:`predict_clusters` gives argmax_c p(c|z), the model's own clusters (``clusterer=model``).
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        backbone: Backbone,
        n_components: int | None = 6,
        pretrain_epochs: int = 10,
        seed: int = 0,
        gmm_n_init: int = 1,
        **kwargs: Any,
    ) -> None:
        if n_components is None or int(n_components) < 2:
            raise ConfigError(
                f"model=vade needs at least 2 mixture components (model.n_components={n_components}, which "
                "follows k). Set k=<number of clusters>; density clusterers leave k unset, so use clusterer=model."
            )
        super().__init__(input_shape, backbone, **kwargs)
        self.save_hyperparameters("n_components", "pretrain_epochs", "seed", "gmm_n_init", logger=False)
        self.n_components, self.pretrain_epochs = int(n_components), max(0, int(pretrain_epochs))
        self.seed, self.gmm_n_init = int(seed), max(1, int(gmm_n_init))
        self.mixture_logits = nn.Parameter(torch.zeros(self.n_components))
        self.mixture_means = nn.Parameter(torch.zeros(self.n_components, self.latent_dim))
        self.mixture_logvars = nn.Parameter(torch.zeros(self.n_components, self.latent_dim))
        self.register_buffer("mixture_ready", torch.tensor(False))
        self._assigned = torch.zeros(self.n_components, dtype=torch.long)

    # -- the mixture prior -----------------------------------------------------------------------------
    @property
    def pretraining(self) -> bool:
        return not bool(self.mixture_ready)

    # -- training phases: AE pre-training, then the joint ELBO (with its own KL warm-up) ----------------
    @property
    def kl_warmup_start_epoch(self) -> int:
        return self.pretrain_epochs

    @property
    def training_phase(self) -> str:
        return "pretrain" if self.current_epoch < self.pretrain_epochs else super().training_phase

    def log_responsibilities(self, z: torch.Tensor) -> torch.Tensor:
        """log p(c|z) for each song and component, shape (N, K)."""
        logvars = self.mixture_logvars.clamp(-10.0, 10.0)
        log_density = -0.5 * (
            LOG_2PI + logvars[None] + (z[:, None, :] - self.mixture_means[None]).pow(2) / logvars.exp()[None]
        ).sum(dim=2)
        joint = torch.log_softmax(self.mixture_logits, dim=0)[None] + log_density
        return joint - torch.logsumexp(joint, dim=1, keepdim=True)

    def init_mixture(self) -> None:
        """Fit a diagonal GaussianMixture on the current (AE) embeddings of all songs and copy it into the prior."""
        from sklearn.mixture import GaussianMixture

        datamodule = self.trainer.datamodule
        z = datamodule.embed_rows(self).astype(np.float64)  # every row (window) the mixture is a prior of
        gmm = GaussianMixture(
            n_components=self.n_components, covariance_type="diag", n_init=self.gmm_n_init, reg_covar=1e-4,
            random_state=self.seed,
        ).fit(z)
        with torch.no_grad():
            self.mixture_logits.copy_(torch.as_tensor(np.log(gmm.weights_ + 1e-12)))
            self.mixture_means.copy_(torch.as_tensor(gmm.means_))
            self.mixture_logvars.copy_(torch.as_tensor(np.log(gmm.covariances_)))
            # start q(z|x) as wide as the average component: a unit variance would swamp a small-scale AE space
            self.to_logvar.weight.zero_()
            self.to_logvar.bias.fill_(float(np.log(gmm.covariances_.mean())))
            self.mixture_ready.fill_(True)
        log.info("VaDE: mixture prior initialised from a %d-component GMM on the AE embeddings (epoch %d)",
                 self.n_components, self.current_epoch)

    # -- training: AE pre-training, then the joint ELBO ------------------------------------------------
    def encode(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        mu, logvar = super().encode(batch)
        # without a variance the VAE trains deterministically: the AE pre-training phase
        return (mu, None) if self.pretraining else (mu, logvar)

    def kl_terms(
        self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """KL(q(z|x) q(c|x) || p(z|c) p(c)): the Gaussian part per latent dim, plus the cluster part per song."""
        log_gamma = self.log_responsibilities(z)
        gamma = log_gamma.exp()
        logvars = self.mixture_logvars.clamp(-10.0, 10.0)
        cross_entropy = 0.5 * (  # E_q[-log N(z; μ_c, σ²_c)] per component and dim, log 2π cancelling below
            logvars[None] + (logvar.exp()[:, None, :] + (mu[:, None, :] - self.mixture_means[None]).pow(2))
            / logvars.exp()[None]
        )
        kl_per_dim = (gamma[:, :, None] * cross_entropy).sum(dim=1) - 0.5 * (1.0 + logvar)
        kl_cluster = (gamma * (log_gamma - torch.log_softmax(self.mixture_logits, dim=0)[None])).sum(dim=1)
        if self._trainer is not None:
            self.log("train/kl_cluster", kl_cluster.mean(), on_step=False, on_epoch=True, batch_size=len(mu))
        self._assigned = self._assigned.to(gamma.device) + torch.bincount(
            gamma.argmax(dim=1).detach(), minlength=self.n_components
        )
        return kl_per_dim, kl_per_dim.sum(dim=1) + kl_cluster

    def on_train_epoch_start(self) -> None:
        if self.pretraining and self.current_epoch >= self.pretrain_epochs:
            self.init_mixture()

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()
        assigned, self._assigned = self._assigned, torch.zeros_like(self._assigned)
        if self.pretraining or int(assigned.sum()) == 0:
            return
        used = int((assigned > 0).sum())
        self.log("train/clusters_used", float(used), on_epoch=True)
        self.last_epoch_summary["clusters_used_train"] = used
        if used == 1:
            log.warning("VaDE: every song went to one mixture component at epoch %d. Try a smaller lr, more "
                        "model.pretrain_epochs, or a smaller beta.", self.current_epoch)

    def on_train_end(self) -> None:
        if self.pretraining:
            log.warning("VaDE: training ended during AE pre-training (max_epochs ≤ model.pretrain_epochs=%d); "
                        "the mixture is a GMM on the AE embeddings, the joint ELBO was never optimised.",
                        self.pretrain_epochs)
            self.init_mixture()

    # -- the model's own clusters ----------------------------------------------------------------------
    @torch.no_grad()
    def predict_proba(self, z: np.ndarray) -> np.ndarray:
        """p(c|z) for embeddings ``z`` (N, latent_dim) — the posterior means from :meth:`embed`."""
        if self.pretraining:
            raise MixtureNotReady("VaDE's mixture prior is initialised after model.pretrain_epochs; "
                                  "train the model first.")
        z = np.asarray(z)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ConfigError(
                f"VaDE assigns clusters in its {self.latent_dim}-dim latent space, got embeddings of shape "
                f"{z.shape}. Cluster the model's own embeddings (reducer=none)."
            )
        z_t = torch.as_tensor(z, dtype=self.mixture_means.dtype, device=self.mixture_means.device)
        return self.log_responsibilities(z_t).exp().cpu().numpy()

    def predict_clusters(self, z: np.ndarray) -> np.ndarray:
        """The mixture component each embedding most likely came from: argmax_c p(c|z)."""
        return self.predict_proba(z).argmax(axis=1).astype(np.int64)

    def summary_metrics(self) -> dict[str, Any]:
        out = super().summary_metrics()
        out.pop("clusters_used", None)
        weights = torch.softmax(self.mixture_logits.detach(), dim=0)
        out["mixture_weight_min"] = float(weights.min())
        out["mixture_weight_max"] = float(weights.max())
        return out
