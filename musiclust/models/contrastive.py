"""``model=contrastive``: a self-supervised encoder in the spirit of SimCLR / CLMR, clustered like any other model.

Positive pairs are two views of one song: two different windows of the track for windowed features (the training
loader draws them, :mod:`musiclust.training.pairs`), and for every feature two augmentations of those rows —
Gaussian noise of ``noise_std`` (in units of the normalised features) and feature dropout (each value zeroed with
probability ``feature_dropout``, the rest scaled by 1/(1-p)). The other songs of the batch are the negatives. The
loss is NT-Xent (normalised temperature-scaled cross-entropy, Chen et al. 2020) with ``temperature``.

The network is the backbone's encoder, a linear layer to ``latent_dim`` (the representation), and a projection head
(``latent_dim`` → ``latent_dim`` → ReLU → ``projection_dim``) that only the loss sees: as in SimCLR, songs are
embedded by the representation before the head. Nothing is reconstructed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from musiclust.errors import ConfigError
from musiclust.models.backbones import Backbone
from musiclust.models.base import EmbeddingModel


def nt_xent(first: torch.Tensor, second: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent loss of B positive pairs (``first[i]``, ``second[i]``), the other 2B - 2 views as negatives.

    Mean over the 2B views of -log(exp(sim(i, pos(i))/τ) / Σ_{k≠i} exp(sim(i, k)/τ)), sim = cosine similarity.
    """
    views = F.normalize(torch.cat([first, second]), dim=1)
    n = first.shape[0]
    logits = views @ views.T / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=logits.device), float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(logits.device)
    return F.cross_entropy(logits, positives)


class ContrastiveModel(EmbeddingModel):
    """Backbone encoder + linear representation (the embedding) + projection head, trained with NT-Xent on
    positive pairs of two views of each song. ``optimizer`` is a partial optimizer, as for the VAE family."""

    #: the training loader serves two rows of each song (MusicDataModule.train_dataloader)
    needs_pairs = True
    reconstructs = False

    def __init__(self, input_shape: tuple[int, ...], backbone: Backbone, latent_dim: int = 32,
                 projection_dim: int = 32, temperature: float = 0.5, noise_std: float = 0.1,
                 feature_dropout: float = 0.2, lr: float = 1e-3, weight_decay: float = 0.0,
                 optimizer: Callable[[Iterable[torch.Tensor]], torch.optim.Optimizer] | None = None,
                 **_: Any) -> None:
        super().__init__()
        if not float(temperature) > 0:
            raise ConfigError(f"model.temperature={temperature}: the NT-Xent temperature must be > 0 (e.g. 0.5).")
        if not 0.0 <= float(feature_dropout) < 1.0:
            raise ConfigError(f"model.feature_dropout={feature_dropout}: a probability in [0, 1) (e.g. 0.2).")
        self.save_hyperparameters(ignore=["backbone", "_", "optimizer"])
        self.optimizer_factory = optimizer or functools.partial(torch.optim.Adam, lr=lr, weight_decay=weight_decay)
        self.lr = float(getattr(self.optimizer_factory, "keywords", {}).get("lr", lr))  # named by the divergence guard
        self.input_shape = tuple(int(s) for s in input_shape)
        self.latent_dim, self.projection_dim = int(latent_dim), int(projection_dim)
        self.temperature, self.noise_std, self.feature_dropout = float(temperature), float(noise_std), float(
            feature_dropout)
        self.encoder, hidden = backbone.build_encoder(self.input_shape)
        self.representation = nn.Linear(hidden, self.latent_dim)
        self.projection = nn.Sequential(nn.Linear(self.latent_dim, self.latent_dim), nn.ReLU(),
                                        nn.Linear(self.latent_dim, self.projection_dim))
        self.final_train_metrics: dict[str, float] = {}

    def represent(self, x: torch.Tensor) -> torch.Tensor:
        return self.representation(self.encoder(x))

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.represent(batch["x"])

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """One random view of ``x``: Gaussian noise, then feature dropout (inverted, so the mean is kept)."""
        if self.noise_std > 0:
            x = x + self.noise_std * torch.randn_like(x)
        if self.feature_dropout > 0:
            x = F.dropout(x, p=self.feature_dropout, training=True)
        return x

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if "x_pair" not in batch:
            raise RuntimeError("model=contrastive needs batches of pairs: train it with MusicDataModule, whose "
                               "train_dataloader serves them to models with needs_pairs = True")
        first = self.projection(self.represent(self.augment(batch["x"])))
        second = self.projection(self.represent(self.augment(batch["x_pair"])))
        loss = nt_xent(first, second, self.temperature)
        size = first.shape[0]
        with torch.no_grad():  # how far apart positives and negatives are: a working loss pulls them apart
            a, b = F.normalize(first, dim=1), F.normalize(second, dim=1)
            similarity = a @ b.T
            positive = similarity.diagonal().mean()
            negative = (similarity.sum() - similarity.diagonal().sum()) / max(1, size * (size - 1))
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=size)
        self.log("train/positive_similarity", positive, on_step=False, on_epoch=True, batch_size=size)
        self.log("train/negative_similarity", negative, on_step=False, on_epoch=True, batch_size=size)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(params=self.parameters())

    def on_train_end(self) -> None:
        # kept here because later trainer calls reset trainer.callback_metrics
        logged = self.trainer.callback_metrics
        self.final_train_metrics = {k.split("/")[-1]: float(v) for k, v in logged.items() if k.startswith("train/")}

    def summary_metrics(self) -> dict[str, Any]:
        return dict(self.final_train_metrics)
