"""VAE family: VAE, β-VAE (``beta``), CVAE (``cond_col`` one-hot into encoder and decoder) and AE."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from musiclust.errors import ConfigError
from musiclust.models.backbones import Backbone
from musiclust.models.base import (
    FINAL_PHASE,
    EmbeddingModel,
    as_backbone,
    as_optimizer,
    backbone_config,
    optimizer_config,
)

log = logging.getLogger(__name__)


class VAE(EmbeddingModel):
    """Gaussian VAE with a backbone encoder/decoder; the embedding is the posterior mean.

    Loss per song: sum-of-squares reconstruction + beta · warm-up(epoch) · KL(q(z|x) || N(0, I)).
    The loss is the final objective (the negative β-ELBO) once the KL weight is full: phase ``"kl_warmup"``
    before, :data:`FINAL_PHASE` from epoch :attr:`final_objective_from_epoch`. Posterior collapse is
    monitored every epoch: per-dimension KL and the number of active dimensions (variance of the posterior
    mean over songs above ``active_threshold``), with a warning only in the final phase.

    ``optimizer`` is a partial optimizer (``conf/model/vae.yaml``: ``_target_: torch.optim.Adam``,
    ``_partial_: true``, its ``lr`` and ``weight_decay`` read from ``model.lr`` / ``model.weight_decay``) that
    :meth:`configure_optimizers` calls with the parameters; built directly without one, it is Adam with ``lr``
    and ``weight_decay``.
    """

    reconstructs = True
    variational = True

    def __init__(
        self,
        input_shape: tuple[int, ...],
        backbone: Backbone | Mapping[str, Any],
        latent_dim: int = 16,
        beta: float = 1.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        kl_warmup_epochs: int = 0,
        n_conditions: int = 0,
        cond_col: str | None = None,
        active_threshold: float = 0.01,
        optimizer: Callable[[Iterable[torch.Tensor]], torch.optim.Optimizer] | Mapping[str, Any] | None = None,
        **_: Any,
    ) -> None:
        super().__init__()
        backbone, optimizer = as_backbone(backbone), as_optimizer(optimizer)
        # objects stay out of hparams (pickled, they make checkpoints fail torch.load(weights_only)); their plain
        # configs go in, so load_from_checkpoint(path) rebuilds the model alone. The run logs its own settings.
        self.save_hyperparameters(ignore=["backbone", "_", "optimizer"], logger=False)
        self.save_hyperparameters({"backbone": backbone_config(backbone), "optimizer": optimizer_config(optimizer)},
                                  logger=False)
        self.optimizer_factory = optimizer or functools.partial(torch.optim.Adam, lr=lr, weight_decay=weight_decay)
        self.input_shape = tuple(int(s) for s in input_shape)
        self.latent_dim, self.beta = int(latent_dim), float(beta)
        self.lr = float(getattr(self.optimizer_factory, "keywords", {}).get("lr", lr))  # named by the divergence guard
        self.kl_warmup_epochs = int(kl_warmup_epochs)
        self.n_conditions, self.active_threshold = int(n_conditions), float(active_threshold)
        self.encoder, hidden = backbone.build_encoder(self.input_shape)
        self.to_mu = nn.Linear(hidden + self.n_conditions, self.latent_dim)
        self.to_logvar = nn.Linear(hidden + self.n_conditions, self.latent_dim) if self.variational else None
        self.decoder = backbone.build_decoder(self.latent_dim + self.n_conditions, self.input_shape)
        self._epoch_stats: dict[str, torch.Tensor] = {}
        self._collapse_warned = False
        self.last_epoch_summary: dict[str, Any] = {}

    # -- forward ---------------------------------------------------------------------------------------
    def _with_cond(self, h: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([h, batch["cond"].to(h.dtype)], dim=1) if self.n_conditions else h

    def encode(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self._with_cond(self.encoder(batch["x"]), batch)
        logvar = self.to_logvar(h).clamp(-10.0, 10.0) if self.to_logvar is not None else None
        return self.to_mu(h), logvar

    def decode(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.decoder(self._with_cond(z, batch))

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encode(batch)[0]

    def reconstruct(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.decode(self.embed(batch), batch)

    # -- training phases -------------------------------------------------------------------------------
    @property
    def kl_warmup_start_epoch(self) -> int:
        """The epoch the KL warm-up counts from (VaDE: the first epoch after its AE pre-training)."""
        return 0

    @property
    def final_objective_from_epoch(self) -> int:
        """The first epoch whose loss has the full KL weight, i.e. is the final objective."""
        if not self.variational:
            return 0
        return self.kl_warmup_start_epoch + max(0, self.kl_warmup_epochs - 1)

    @property
    def training_phase(self) -> str:
        return FINAL_PHASE if self.current_epoch >= self.final_objective_from_epoch else "kl_warmup"

    # -- training --------------------------------------------------------------------------------------
    def kl_weight(self) -> float:
        if self.kl_warmup_epochs <= 0:
            return self.beta
        epochs_warmed = max(0, self.current_epoch - self.kl_warmup_start_epoch + 1)
        return self.beta * min(1.0, epochs_warmed / self.kl_warmup_epochs)

    def kl_terms(
        self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """KL(q(z|x) || prior): per latent dim (N, D) for collapse monitoring, and per song (N,) for the loss."""
        kl_per_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
        return kl_per_dim, kl_per_dim.sum(dim=1)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x = batch["x"]
        mu, logvar = self.encode(batch)
        if logvar is not None:
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            kl_per_dim, kl_per_song = self.kl_terms(mu, logvar, z)
        else:
            z, kl_per_dim = mu, torch.zeros_like(mu)
            kl_per_song = kl_per_dim.sum(dim=1)
        recon = self.decode(z, batch)
        recon_loss = (recon - x).pow(2).flatten(1).sum(dim=1).mean()
        kl = kl_per_song.mean()
        loss = recon_loss + self.kl_weight() * kl
        size = x.shape[0]
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=size)
        self.log("train/recon", recon_loss, on_step=False, on_epoch=True, batch_size=size)
        if self.variational:
            self.log("train/kl", kl, on_step=False, on_epoch=True, batch_size=size)
        self._accumulate(mu.detach(), kl_per_dim.detach())
        return loss

    def _accumulate(self, mu: torch.Tensor, kl_per_dim: torch.Tensor) -> None:
        stats = self._epoch_stats
        for name, value in (("n", torch.tensor(float(mu.shape[0]), device=mu.device)), ("mu", mu.sum(0)),
                            ("mu2", mu.pow(2).sum(0)), ("kl", kl_per_dim.sum(0))):
            stats[name] = stats[name] + value if name in stats else value

    def on_train_epoch_end(self) -> None:
        stats, self._epoch_stats = self._epoch_stats, {}
        if not stats:
            return
        if not self.variational:  # no posterior: the spread of a deterministic code says nothing about collapse
            return
        n = stats["n"]
        variance = stats["mu2"] / n - (stats["mu"] / n).pow(2)
        kl_per_dim = stats["kl"] / n
        active = int((variance > self.active_threshold).sum())
        self.log("train/active_dims", float(active), on_epoch=True)
        # straight to the loggers: one row per epoch, without Lightning's per-key reduction machinery
        per_dim = {f"kl_dim/{i:02d}": value for i, value in enumerate(kl_per_dim.tolist())}
        for logger in self.loggers:
            logger.log_metrics(per_dim, step=self.global_step)
        self.last_epoch_summary = {
            "active_dims_train": active,
            "kl_per_dim": ";".join(f"{v:.3f}" for v in kl_per_dim.tolist()),
        }
        self._warn_on_collapse(active)

    def _warn_on_collapse(self, active: int) -> None:
        """Warn once per collapse, and only in the final phase: during warm-up a low KL weight is by design."""
        if active > 0 or not self.in_final_phase:
            self._collapse_warned = False
            return
        if not self._collapse_warned:
            log.warning(
                "Posterior collapse: 0 of %d latent dims active at epoch %d (beta=%s, active_threshold=%s). "
                "Try a smaller beta, model.kl_warmup_epochs=20, or a smaller latent_dim.",
                self.latent_dim, self.current_epoch, self.beta, self.active_threshold,
            )
            self._collapse_warned = True

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(params=self.parameters())

    def on_train_end(self) -> None:
        # kept here because trainer.predict() resets trainer.callback_metrics afterwards
        logged = self.trainer.callback_metrics
        self.final_train_metrics = {k.split("/")[-1]: float(v) for k, v in logged.items() if k.startswith("train/")}
        self.final_train_metrics.pop("active_dims", None)

    def summary_metrics(self) -> dict[str, Any]:
        return {**getattr(self, "final_train_metrics", {}), **self.last_epoch_summary}

    def latent_diagnostics(self, z: np.ndarray) -> dict[str, Any]:
        """Active dims of the final embeddings (posterior means): Var over songs above ``active_threshold``."""
        if not self.variational:
            return {}
        variance = np.asarray(z, dtype=np.float64).var(axis=0)
        return {"active_dims": int((variance > self.active_threshold).sum()), "active_threshold": self.active_threshold}


class AutoEncoder(VAE):
    """The same network as the VAE, deterministic: no sampling, no KL term."""

    variational = False

    def __init__(self, input_shape: tuple[int, ...], backbone: Backbone, beta: float = 0.0, **kwargs: Any) -> None:
        if float(beta) != 0.0:  # model.beta is inherited from the VAE's config; here it would change nothing
            raise ConfigError(
                f"model=ae has no KL term, so model.beta={beta:g} would change nothing. "
                "Leave model.beta at 0 for the autoencoder, or use model=vae / model=beta_vae for a KL weight."
            )
        super().__init__(input_shape, backbone, beta=beta, **kwargs)

    def kl_weight(self) -> float:
        return 0.0


class CVAE(VAE):
    """Conditional VAE: the one-hot of ``cond_col`` goes into both the encoder head and the decoder.

    The pipeline builds the one-hot from the manifest column named by ``cond_col``.
    """

    def __init__(self, input_shape: tuple[int, ...], backbone: Backbone, cond_col: str | None = None,
                 n_conditions: int = 0, **kwargs: Any) -> None:
        if not cond_col:
            raise ConfigError(
                "model=cvae needs a column to condition on, but model.cond_col is null. "
                "Set model.cond_col=<metadata column> (e.g. model.cond_col=language), or use model=vae."
            )
        if int(n_conditions) < 1:
            raise ConfigError(
                f"model=cvae with model.cond_col={cond_col!r} got no condition values. "
                "Run it through musiclust.pipeline (which one-hot encodes the column) or pass n_conditions."
            )
        super().__init__(input_shape, backbone, cond_col=cond_col, n_conditions=n_conditions, **kwargs)
