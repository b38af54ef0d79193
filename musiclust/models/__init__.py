"""Models: every one a LightningModule with ``embed(batch) -> z``."""

from musiclust.models.backbones import Backbone, Conv2dBackbone, MLPBackbone
from musiclust.models.base import ClosedFormModel, EmbeddingModel
from musiclust.models.baselines import PCAModel, RawModel
from musiclust.models.vade import VaDE
from musiclust.models.vae import CVAE, VAE, AutoEncoder

__all__ = [
    "CVAE", "VAE", "AutoEncoder", "Backbone", "ClosedFormModel", "Conv2dBackbone", "EmbeddingModel", "MLPBackbone",
    "PCAModel", "RawModel", "VaDE",
]
